"""Word lists for neutral tone and erhua, written for this project from standard Mandarin usage.

They hold common words whose second syllable is read in the neutral tone in everyday Standard
Mandarin (轻声词) and that pypinyin gives with a full tone. The list is our own, not upstream's: it
covers the frequent words (kinship terms, body parts, household objects, common verbs and adjectives
with a neutral second syllable); rarer words follow pypinyin.
"""

from __future__ import annotations


def _words(*groups: str) -> frozenset[str]:
    return frozenset(w for g in groups for w in g.split())


# Words whose last syllable is neutral (东西 dong1 xi5: "thing"; 先生 xian1 sheng5).
MUST_NEUTRAL: frozenset[str] = _words(
    # people and kinship
    "先生 丈夫 媳妇 女婿 姑娘 闺女 小伙子 亲戚 亲家 兄弟 弟兄 姐夫 妹夫 姑父 姨父 舅舅 朋友 伙计 师傅 师父 学生 "
    "大夫 大爷 大人 少爷 老爷 姥爷 丫头 奴才 和尚 喇嘛 妖精 冤家 对头 客人 主人 东家 寡妇 哑巴 聋子 傻子 邻居 ",
    # body
    "头发 眼睛 眉毛 鼻子 耳朵 嘴巴 下巴 脑袋 脑子 胳膊 指头 指甲 屁股 尾巴 骨头 脊梁 喉咙 嗓子 舌头 巴掌 拳头 "
    "肚子 脖子 膀子 身子 个子 模样 ",
    # things and places
    "东西 衣服 衣裳 被子 枕头 窗户 门口 帐篷 口袋 包袱 钥匙 扫帚 簸箕 笤帚 锄头 斧子 刷子 镜子 盒子 箱子 "
    "桌子 椅子 凳子 筷子 勺子 杯子 盘子 碟子 馒头 饺子 包子 豆腐 萝卜 黄瓜 葡萄 核桃 石榴 芝麻 高粱 馄饨 "
    "地方 地道 位置 房子 院子 村子 街坊 铺子 买卖 生意 风筝 灯笼 喇叭 琵琶 胡琴 玻璃 蘑菇 骆驼 狐狸 "
    "苍蝇 蚊子 刺猬 麻雀 云彩 月亮 太阳 日子 时候 工夫 功夫 名字 事情 消息 意思 主意 道理 规矩 关系 "
    "学问 本事 脾气 力气 志气 福气 运气 心思 念头 交情 人家 部分 合同 官司 故事 ",
    # verbs
    "喜欢 告诉 知道 认识 商量 休息 打听 打量 打扮 打算 收拾 咳嗽 吩咐 嘱咐 招呼 佩服 "
    "琢磨 折腾 糊弄 溜达 嘀咕 嘟囔 哆嗦 吆喝 叫唤 使唤 张罗 应酬 对付 将就 凑合 打发 眨巴 耽误 "
    "耽搁 捉摸 明白 困难 欺负 挑剔 埋怨 念叨 唠叨 扎实 ",
    # adjectives and others
    "漂亮 清楚 明白 舒服 便宜 麻烦 客气 聪明 糊涂 马虎 厉害 热闹 凉快 暖和 结实 老实 踏实 实在 规矩 "
    "利索 利落 勤快 痛快 爽快 别扭 啰嗦 含糊 模糊 体面 大方 小气 阔气 土气 秀气 和气 斯文 "
    "舒坦 硬朗 委屈 冤枉 快活 自在 苗条 窝囊 邋遢 窟窿 疙瘩 什么 怎么 这么 那么 多么 多少 ",
)

# Words exempt from the reduplication / 子 / 们 neutral-tone rules (full tone on the second syllable).
MUST_NOT_NEUTRAL: frozenset[str] = _words(
    "人人 天天 个个 家家 年年 处处 常常 往往 刚刚 渐渐 偏偏 统统 纷纷 仅仅 整整 "
    "男子 女子 孔子 孟子 老子 庄子 君子 才子 学子 游子 赤子 电子 原子 分子 量子 中子 质子 粒子 因子 "
    "种子 瓜子 莲子 卵子 精子 石子 棋子 骰子 "
)

# Words that always take erhua on their final 儿.
MUST_ERHUA: frozenset[str] = _words(
    "胡同儿 小院儿 媳妇儿 撒欢儿 玩儿 事儿 味儿 点儿 会儿 一点儿 一会儿 哪儿 这儿 那儿"
)

# Words whose 儿 is a full syllable (er2), not an erhua suffix.
NOT_ERHUA: frozenset[str] = _words(
    "女儿 儿子 儿童 婴儿 幼儿 孤儿 少儿 男儿 孙儿 侄儿 患儿 胎儿 健儿 宠儿 混血儿 流浪儿 新生儿 "
    "花儿 鸟儿 马儿 鱼儿 猫儿 狗儿 虫儿"
)
