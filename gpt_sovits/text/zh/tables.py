"""Small lookup tables for Chinese normalisation (units, measure words, symbols, punctuation)."""

from __future__ import annotations

from gpt_sovits.text.tokens import CJK_PUNCT_MAP

# Unit abbreviations read after a number. Longest spellings first so that "km²" wins over "km" and "m".
UNITS: dict[str, str] = {
    "km/h": "千米每小时",
    "m/s": "米每秒",
    "km²": "平方千米",
    "km2": "平方千米",
    "cm²": "平方厘米",
    "cm2": "平方厘米",
    "cm³": "立方厘米",
    "cm3": "立方厘米",
    "m²": "平方米",
    "m2": "平方米",
    "m³": "立方米",
    "m3": "立方米",
    "mAh": "毫安时",
    "kcal": "千卡",
    "kHz": "千赫兹",
    "MHz": "兆赫兹",
    "GHz": "吉赫兹",
    "Hz": "赫兹",
    "km": "千米",
    "cm": "厘米",
    "mm": "毫米",
    "nm": "纳米",
    "kg": "千克",
    "mg": "毫克",
    "ml": "毫升",
    "mL": "毫升",
    "TB": "太字节",
    "GB": "吉字节",
    "MB": "兆字节",
    "KB": "千字节",
    "kb": "千字节",
    "kW": "千瓦",
    "kw": "千瓦",
    "dB": "分贝",
    "db": "分贝",
    "ms": "毫秒",
    "min": "分钟",
    "m": "米",
    "g": "克",
    "t": "吨",
    "L": "升",
    "l": "升",
    "s": "秒",
    "h": "小时",
    "W": "瓦",
    "V": "伏",
}

# Currency signs read after the amount.
CURRENCIES: dict[str, str] = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}

# Measure words after which a bare 2 is read 两 (upstream GPT-SoVITS COM_QUANTIFIERS, less 月 and 日:
# "2月" is the month 二月 and is handled by the date rule). Multi-character entries come first.
MEASURE_WORDS: tuple[str, ...] = tuple(
    (
        "千克 毫克 微克 公分 千米 分米 厘米 毫米 微米 小时 美元 千元 万元 百元 亿元 千万 百万 "
        "处 台 架 枚 趟 幅 平 方 堵 间 床 株 批 项 例 列 篇 栋 注 亩 封 艘 把 目 套 段 人 所 朵 匹 张 座 "
        "回 场 尾 条 个 首 阙 阵 网 炮 顶 丘 棵 只 支 袭 辆 挑 担 颗 壳 窠 曲 墙 群 腔 砣 客 贯 扎 捆 刀 "
        "令 打 手 罗 坡 山 岭 江 溪 钟 队 单 双 对 出 口 头 脚 板 跳 枝 件 贴 针 线 管 名 位 身 堂 课 本 "
        "页 家 户 层 丝 毫 厘 分 钱 两 斤 铢 石 钧 锱 忽 克 寸 尺 丈 里 寻 常 铺 程 米 撮 勺 合 升 斗 盘 "
        "碗 碟 叠 桶 笼 盆 盒 杯 斛 锅 簋 篮 罐 瓶 壶 卮 盏 箩 箱 煲 啖 袋 钵 年 季 刻 时 周 天 秒 旬 "
        "纪 岁 世 更 夜 春 夏 秋 冬 代 伏 辈 丸 泡 粒 幢 堆 根 道 面 片 块 元 亿 万 千 百 吨 角 毛 种 次 遍 倍"
    ).split()
)

GREEK: dict[str, str] = {
    "α": "阿尔法",
    "β": "贝塔",
    "γ": "伽玛",
    "Γ": "伽玛",
    "δ": "德尔塔",
    "Δ": "德尔塔",
    "ε": "艾普西龙",
    "ζ": "捷塔",
    "η": "依塔",
    "θ": "西塔",
    "Θ": "西塔",
    "ι": "艾欧塔",
    "κ": "喀帕",
    "λ": "拉姆达",
    "Λ": "拉姆达",
    "μ": "缪",
    "ν": "拗",
    "ξ": "克西",
    "Ξ": "克西",
    "ο": "欧米克伦",
    "π": "派",
    "Π": "派",
    "ρ": "肉",
    "ς": "西格玛",
    "σ": "西格玛",
    "Σ": "西格玛",
    "τ": "套",
    "υ": "宇普西龙",
    "φ": "服艾",
    "Φ": "服艾",
    "χ": "器",
    "ψ": "普赛",
    "Ψ": "普赛",
    "ω": "欧米伽",
    "Ω": "欧米伽",
}

CIRCLED = dict(zip("①②③④⑤⑥⑦⑧⑨⑩", "一二三四五六七八九十"))

# Punctuation -> one of , . ! ? … - (upstream chinese2.rep_map plus the half-width marks it misses).
PUNCT_MAP: dict[str, str] = {
    **CJK_PUNCT_MAP,
    "．": ".",
    "...": "…",
    "⋯": "…",
    "$": ".",
    "/": ",",
    "——": "-",
    "—": "-",
    "–": "-",
    "~": "…",
    "～": "…",
}

# Brackets, quotes and symbols that upstream deletes outright (they carry no pause).
DELETED = "《》【】<>{}()（）#&@“”‘’'\"「」『』^_|\\"

# Full-width ASCII (digits, letters, a few operators) -> half-width, so the number rules see them.
FULL_TO_HALF = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},
    **{0xFF21 + i: 0x41 + i for i in range(26)},
    **{0xFF41 + i: 0x61 + i for i in range(26)},
    0x3000: 0x20,
    ord("％"): ord("%"),
    ord("＋"): ord("+"),
    ord("－"): ord("-"),
    ord("＝"): ord("="),
    ord("／"): ord("/"),
    ord("＄"): ord("$"),
}
