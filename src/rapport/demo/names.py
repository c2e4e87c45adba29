"""Vocabulary for the demo data: people, places, companies, products and phone plans.

Everything here is fictional. Company names are composed from generic words; e-mail and web
addresses use reserved example domains only; phone numbers follow each country's numbering
plan (UK and US ones use the ranges Ofcom and NANPA keep for drama).
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- people ---------------------------------------------------------------------------------

# (hanzi, pinyin, weight): the commonest family names first.
ZH_SURNAMES: tuple[tuple[str, str, int], ...] = (
    ("王", "wang", 9), ("李", "li", 9), ("张", "zhang", 8), ("刘", "liu", 7), ("陈", "chen", 7),
    ("杨", "yang", 5), ("黄", "huang", 5), ("赵", "zhao", 4), ("吴", "wu", 4), ("周", "zhou", 4),
    ("徐", "xu", 3), ("孙", "sun", 3), ("马", "ma", 3), ("朱", "zhu", 3), ("胡", "hu", 3),
    ("郭", "guo", 3), ("何", "he", 3), ("林", "lin", 3), ("罗", "luo", 2), ("高", "gao", 2),
    ("郑", "zheng", 2), ("梁", "liang", 2), ("谢", "xie", 2), ("宋", "song", 2), ("唐", "tang", 2),
    ("许", "xu", 2), ("韩", "han", 2), ("冯", "feng", 2), ("邓", "deng", 2), ("曹", "cao", 2),
    ("彭", "peng", 2), ("曾", "zeng", 2), ("肖", "xiao", 2), ("田", "tian", 1), ("董", "dong", 1),
    ("潘", "pan", 1), ("袁", "yuan", 1), ("蔡", "cai", 1), ("蒋", "jiang", 1), ("余", "yu", 1),
    ("于", "yu", 1), ("杜", "du", 1), ("叶", "ye", 1), ("程", "cheng", 1), ("魏", "wei", 1),
    ("苏", "su", 1), ("吕", "lyu", 1), ("丁", "ding", 1), ("沈", "shen", 1), ("任", "ren", 1),
    ("姚", "yao", 1), ("卢", "lu", 1), ("钟", "zhong", 1), ("姜", "jiang", 1), ("崔", "cui", 1),
    ("谭", "tan", 1), ("廖", "liao", 1), ("范", "fan", 1), ("汪", "wang", 1), ("陆", "lu", 1),
    ("金", "jin", 1), ("石", "shi", 1), ("戴", "dai", 1), ("贾", "jia", 1), ("夏", "xia", 1),
    ("邱", "qiu", 1), ("方", "fang", 1), ("侯", "hou", 1), ("邹", "zou", 1), ("熊", "xiong", 1),
    ("孟", "meng", 1), ("秦", "qin", 1), ("白", "bai", 1), ("江", "jiang", 1), ("薛", "xue", 1),
    ("顾", "gu", 1), ("毛", "mao", 1), ("邵", "shao", 1), ("钱", "qian", 1), ("严", "yan", 1),
    ("欧阳", "ouyang", 1), ("司马", "sima", 1),
)

ZH_GIVEN: tuple[tuple[str, str], ...] = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
    ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("霞", "xia"),
    ("平", "ping"), ("刚", "gang"), ("鹏", "peng"), ("辉", "hui"), ("斌", "bin"), ("宁", "ning"),
    ("琳", "lin"), ("颖", "ying"), ("倩", "qian"), ("婷", "ting"), ("蕾", "lei"), ("慧", "hui"),
    ("凯", "kai"), ("晨", "chen"), ("昊", "hao"), ("博", "bo"), ("瑶", "yao"), ("璐", "lu"),
    ("冰", "bing"), ("悦", "yue"), ("秀英", "xiuying"), ("桂英", "guiying"), ("建华", "jianhua"),
    ("建国", "jianguo"), ("志强", "zhiqiang"), ("海燕", "haiyan"), ("晓明", "xiaoming"),
    ("晓燕", "xiaoyan"), ("文博", "wenbo"), ("子涵", "zihan"), ("欣怡", "xinyi"),
    ("浩然", "haoran"), ("宇轩", "yuxuan"), ("思远", "siyuan"), ("佳怡", "jiayi"),
    ("俊杰", "junjie"), ("一鸣", "yiming"), ("志伟", "zhiwei"), ("丽华", "lihua"),
    ("春梅", "chunmei"), ("国强", "guoqiang"), ("红梅", "hongmei"), ("玉兰", "yulan"),
    ("海涛", "haitao"), ("立新", "lixin"), ("振华", "zhenhua"), ("晓东", "xiaodong"),
    ("雪梅", "xuemei"), ("文静", "wenjing"), ("诗琪", "shiqi"), ("梦瑶", "mengyao"),
    ("天宇", "tianyu"), ("泽宇", "zeyu"), ("皓轩", "haoxuan"), ("家豪", "jiahao"),
    ("明轩", "mingxuan"), ("佩玲", "peiling"), ("丽娟", "lijuan"), ("建军", "jianjun"),
    ("卫东", "weidong"), ("永红", "yonghong"), ("雅琴", "yaqin"), ("晓峰", "xiaofeng"),
    ("宏伟", "hongwei"), ("少华", "shaohua"), ("美玲", "meiling"), ("德明", "deming"),
    ("志明", "zhiming"), ("秋云", "qiuyun"), ("国华", "guohua"), ("嘉欣", "jiaxin"),
    ("雨桐", "yutong"), ("子轩", "zixuan"), ("思琪", "siqi"), ("立华", "lihua"),
)

# Western given and family names per culture (ISO 639-1 code).
WESTERN_FIRST: dict[str, tuple[str, ...]] = {
    "de": ("Anna", "Lukas", "Julia", "Felix", "Katharina", "Jonas", "Laura", "Maximilian",
           "Sophie", "Tobias", "Lena", "Stefan", "Sabine", "Michael", "Andreas", "Claudia",
           "Thomas", "Markus", "Petra", "Jan", "Jürgen", "Birgit", "Florian", "Miriam"),
    "en": ("Oliver", "Emma", "James", "Charlotte", "George", "Amelia", "Harry", "Olivia", "Jack",
           "Emily", "Thomas", "Sophie", "William", "Grace", "Daniel", "Hannah", "Rachel",
           "Michael", "Sarah", "David", "Laura", "Peter", "Helen", "Andrew"),
    "sv": ("Erik", "Anna", "Lars", "Karin", "Johan", "Maria", "Anders", "Eva", "Per", "Sara",
           "Nils", "Ingrid", "Oskar", "Elin", "Magnus", "Astrid", "Björn", "Linnea"),
    "fr": ("Camille", "Louis", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Jules", "Inès",
           "Antoine", "Claire", "Nicolas", "Julie", "Pierre", "Élodie", "Mathieu"),
    "nl": ("Daan", "Sanne", "Bram", "Lotte", "Sem", "Eva", "Thijs", "Fleur", "Ruben", "Anouk",
           "Joost", "Marieke"),
    "it": ("Marco", "Giulia", "Luca", "Francesca", "Alessandro", "Chiara", "Matteo", "Sara",
           "Andrea", "Elena", "Paolo", "Valentina"),
}
WESTERN_LAST: dict[str, tuple[str, ...]] = {
    "de": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
           "Schulz", "Hoffmann", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
           "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Werner",
           "Krause", "Vogel", "Huber", "Brandt"),
    "en": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
           "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green",
           "Hall", "Clarke", "Hughes", "Edwards", "Patel", "Khan", "Murphy", "Campbell"),
    "sv": ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson",
           "Persson", "Svensson", "Gustafsson", "Lindqvist", "Lindberg", "Berg", "Holm", "Ek",
           "Sandberg"),
    "fr": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
           "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Fontaine", "Rousseau"),
    "nl": ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser",
           "Smit", "Meijer", "de Boer", "Mulder", "Bos"),
    "it": ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
           "Marino", "Greco", "Bruno", "Gallo", "Conti"),
}

_FOLD = str.maketrans({
    "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "å": "a", "ø": "o", "æ": "ae", "é": "e",
    "è": "e", "ê": "e", "ë": "e", "à": "a", "â": "a", "ç": "c", "î": "i", "ï": "i", "ô": "o",
    "û": "u", "ù": "u", "É": "e", "Ö": "oe", "Ä": "ae", "Ü": "ue", " ": "", "'": "", "-": "",
})


def ascii_fold(value: str) -> str:
    """Lower-case ASCII form of a Western name for e-mail addresses (Müller -> mueller)."""
    return value.lower().translate(_FOLD)


# ---- job titles ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobTitle:
    zh: str
    en: str
    honorific: str  # how a Chinese colleague addresses the person: 王经理, 李工, 张主任
    role: str  # CONTACT_ROLES
    department_zh: str
    department_en: str


INDUSTRIAL_JOBS: tuple[JobTitle, ...] = (
    JobTitle("总经理", "General Manager", "总", "decision_maker", "总经办", "Management"),
    JobTitle("采购经理", "Purchasing Manager", "经理", "procurement", "采购部", "Purchasing"),
    JobTitle("采购专员", "Buyer", "", "procurement", "采购部", "Purchasing"),
    JobTitle("设备部经理", "Maintenance Manager", "经理", "economic_buyer", "设备部", "Maintenance"),
    JobTitle("电气工程师", "Electrical Engineer", "工", "technical_evaluator", "技术部", "Engineering"),
    JobTitle("自动化工程师", "Automation Engineer", "工", "technical_evaluator", "技术部", "Engineering"),
    JobTitle("技术总监", "Head of Engineering", "总", "champion", "技术部", "Engineering"),
    JobTitle("生产总监", "Production Director", "总", "influencer", "生产部", "Production"),
    JobTitle("质量经理", "Quality Manager", "经理", "influencer", "质量部", "Quality"),
    JobTitle("项目经理", "Project Manager", "经理", "user", "项目部", "Projects"),
    JobTitle("研发工程师", "R&D Engineer", "工", "user", "研发中心", "R&D"),
)
MEDICAL_JOBS: tuple[JobTitle, ...] = (
    JobTitle("院长", "Hospital Director", "院长", "decision_maker", "院办", "Management"),
    JobTitle("设备科科长", "Head of Medical Equipment", "科长", "economic_buyer", "设备科", "Medical Equipment"),
    JobTitle("设备科工程师", "Biomedical Engineer", "工", "technical_evaluator", "设备科", "Medical Equipment"),
    JobTitle("采购主管", "Procurement Lead", "主管", "procurement", "采购中心", "Procurement"),
    JobTitle("超声科主任", "Head of Ultrasound", "主任", "champion", "超声科", "Ultrasound"),
    JobTitle("ICU主任", "Head of Intensive Care", "主任", "influencer", "重症医学科", "Intensive Care"),
    JobTitle("护士长", "Head Nurse", "护士长", "user", "护理部", "Nursing"),
    JobTitle("主治医师", "Attending Physician", "医生", "user", "麻醉科", "Anaesthesia"),
    JobTitle("销售总监", "Sales Director", "总", "decision_maker", "销售部", "Sales"),
    JobTitle("产品经理", "Product Manager", "经理", "influencer", "市场部", "Marketing"),
)

# ---- places ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class City:
    name: str  # as stored in the city column
    pinyin: str  # English spelling, for English legal names
    state: str
    country: str
    postal: str  # a realistic postal code for the business district
    phone_prefix: str  # E.164 prefix of a landline, e.g. "+8621"
    local_digits: int  # digits after the prefix
    first_digits: str  # digits a local number may start with
    districts: tuple[str, ...]
    streets: tuple[str, ...]


def _cn(name: str, pinyin: str, state: str, postal: str, area: str, digits: int,
        districts: tuple[str, ...], streets: tuple[str, ...]) -> City:
    return City(name, pinyin, state, "CN", postal, f"+86{area}", digits, "23456",
                districts, streets)


EAST_CHINA: tuple[City, ...] = (
    _cn("上海", "Shanghai", "上海市", "201203", "21", 8, ("浦东新区", "闵行区", "嘉定区", "松江区", "青浦区"),
        ("张江路", "科苑路", "金科路", "莘庄工业区春东路", "嘉松北路", "新骏环路")),
    _cn("苏州", "Suzhou", "江苏省", "215021", "512", 8, ("工业园区", "吴中区", "相城区", "昆山市"),
        ("星湖街", "金鸡湖大道", "苏虹中路", "东平街", "吴中大道")),
    _cn("杭州", "Hangzhou", "浙江省", "310052", "571", 8, ("滨江区", "余杭区", "萧山区", "钱塘区"),
        ("江南大道", "文一西路", "建设一路", "六号大街")),
    _cn("南京", "Nanjing", "江苏省", "211100", "25", 8, ("江宁区", "栖霞区", "浦口区"),
        ("胜太路", "天元中路", "仙林大道", "江浦街道工业路")),
    _cn("宁波", "Ningbo", "浙江省", "315800", "574", 8, ("北仑区", "鄞州区", "镇海区"),
        ("明州路", "四明中路", "庐山东路")),
    _cn("无锡", "Wuxi", "江苏省", "214028", "510", 8, ("新吴区", "惠山区", "锡山区"),
        ("长江路", "新华路", "锡士路")),
    _cn("合肥", "Hefei", "安徽省", "230088", "551", 8, ("高新区", "经开区", "包河区"),
        ("望江西路", "创新大道", "繁华大道")),
    _cn("常州", "Changzhou", "江苏省", "213022", "519", 8, ("武进区", "新北区"),
        ("龙锦路", "太湖东路", "汉江路")),
)
SOUTH_CHINA: tuple[City, ...] = (
    _cn("深圳", "Shenzhen", "广东省", "518057", "755", 8, ("南山区", "宝安区", "龙华区", "龙岗区", "光明区"),
        ("科技园南区高新南九道", "宝安大道", "观澜大道", "坂雪岗大道", "光明大街")),
    _cn("广州", "Guangzhou", "广东省", "510663", "20", 8, ("天河区", "黄埔区", "番禺区", "花都区"),
        ("科学大道", "天河北路", "开创大道", "市桥街")),
    _cn("东莞", "Dongguan", "广东省", "523808", "769", 8, ("松山湖", "长安镇", "塘厦镇", "虎门镇"),
        ("工业北路", "新安路", "松山湖大道", "莲湖路")),
    _cn("佛山", "Foshan", "广东省", "528300", "757", 8, ("顺德区", "南海区", "禅城区"),
        ("北滘工业大道", "桂澜北路", "季华路")),
    _cn("厦门", "Xiamen", "福建省", "361006", "592", 7, ("湖里区", "集美区", "海沧区"),
        ("火炬北路", "杏林湾路", "翁角路")),
    _cn("珠海", "Zhuhai", "广东省", "519085", "756", 7, ("香洲区", "金湾区", "斗门区"),
        ("唐家湾港湾大道", "机场东路", "珠峰大道")),
    _cn("中山", "Zhongshan", "广东省", "528437", "760", 8, ("火炬开发区", "小榄镇"),
        ("中山港大道", "升平中路")),
)


def _eu(name: str, state: str, country: str, postal: str, prefix: str, digits: int, first: str,
        streets: tuple[str, ...]) -> City:
    return City(name, name, state, country, postal, prefix, digits, first, (), streets)


EMEA_CITIES: tuple[City, ...] = (
    _eu("München", "Bayern", "DE", "80807", "+4989", 8, "1234567",
        ("Leopoldstraße", "Frankfurter Ring", "Lilienthalallee", "Ingolstädter Straße")),
    _eu("Stuttgart", "Baden-Württemberg", "DE", "70565", "+49711", 8, "234567",
        ("Industriestraße", "Heßbrühlstraße", "Nobelstraße", "Pfaffenwaldring")),
    _eu("Nürnberg", "Bayern", "DE", "90411", "+49911", 8, "234567",
        ("Nordostpark", "Äußere Sulzbacher Straße", "Klingenhofstraße")),
    _eu("Hamburg", "Hamburg", "DE", "22297", "+4940", 8, "2345678",
        ("Überseering", "Hammerbrookstraße", "Wendenstraße")),
    _eu("Berlin", "Berlin", "DE", "12489", "+4930", 8, "2345678",
        ("Rudower Chaussee", "Wolfener Straße", "Köpenicker Straße")),
    _eu("Düsseldorf", "Nordrhein-Westfalen", "DE", "40549", "+49211", 8, "2345678",
        ("Hansaallee", "Heerdter Lohweg", "Am Seestern")),
    _eu("London", "Greater London", "GB", "EC1V 2NX", "+44207946", 4, "0",
        ("City Road", "Old Street", "Great Portland Street")),
    _eu("Manchester", "Greater Manchester", "GB", "M15 4FN", "+441614960", 3, "0123456789",
        ("Oxford Road", "Trafford Wharf Road", "Hulme Street")),
    _eu("Birmingham", "West Midlands", "GB", "B7 4BB", "+441214960", 3, "0123456789",
        ("Holt Street", "Aston Science Park", "Hagley Road")),
    _eu("Stockholm", "Stockholms län", "SE", "164 40", "+468", 8, "5678",
        ("Torshamnsgatan", "Isafjordsgatan", "Sveavägen")),
    _eu("Göteborg", "Västra Götalands län", "SE", "417 56", "+4631", 7, "3457",
        ("Lindholmspiren", "Gullbergs Strandgata", "Första Långgatan")),
    _eu("Malmö", "Skåne län", "SE", "211 19", "+4640", 7, "3678",
        ("Carlsgatan", "Stortorget", "Hyllie Boulevard")),
    _eu("Lyon", "Auvergne-Rhône-Alpes", "FR", "69007", "+3347", 7, "2",
        ("Avenue Tony Garnier", "Rue de Gerland", "Quai Perrache")),
    _eu("Toulouse", "Occitanie", "FR", "31400", "+3356", 7, "1",
        ("Avenue de Rangueil", "Rue Ampère", "Chemin du Chapitre")),
    _eu("Paris", "Île-de-France", "FR", "75013", "+331", 8, "4",
        ("Rue du Chevaleret", "Avenue de France", "Boulevard Vincent Auriol")),
    _eu("Eindhoven", "Noord-Brabant", "NL", "5656 AE", "+3140", 7, "2",
        ("High Tech Campus", "Kastanjelaan", "Torenallee")),
    _eu("Rotterdam", "Zuid-Holland", "NL", "3072 AP", "+3110", 7, "2",
        ("Wilhelminakade", "Marconistraat", "Vareseweg")),
    _eu("Milano", "Lombardia", "IT", "20156", "+3902", 8, "2345678",
        ("Via Gallarate", "Viale Certosa", "Via Stephenson")),
    _eu("Bologna", "Emilia-Romagna", "IT", "40128", "+39051", 7, "3456",
        ("Via Stalingrado", "Via dell'Industria", "Via Ferrarese")),
    _eu("Dubai", "Dubai", "AE", "00000", "+9714", 7, "3458",
        ("Dubai Healthcare City", "Sheikh Zayed Road", "Dubai Science Park")),
    _eu("Johannesburg", "Gauteng", "ZA", "2196", "+2711", 7, "2345678",
        ("Rivonia Road", "Jan Smuts Avenue", "Oxford Road")),
)

# Culture of the people at a company in each country; mobile number plans per culture.
COUNTRY_CULTURE: dict[str, str] = {
    "CN": "zh", "DE": "de", "GB": "en", "SE": "sv", "FR": "fr", "NL": "nl", "IT": "it",
    "AE": "en", "ZA": "en",
}
CULTURE_LANGUAGE: dict[str, str] = {
    "zh": "zh-CN", "de": "de", "en": "en", "sv": "sv", "fr": "fr", "nl": "nl", "it": "it",
}
# (prefix, random digits after it)
MOBILE_PLANS: dict[str, tuple[tuple[str, int], ...]] = {
    "CN": tuple((f"+861{p}", 8) for p in ("30", "31", "32", "33", "35", "36", "37", "38", "39",
                                          "50", "51", "52", "55", "56", "57", "58", "59",
                                          "80", "81", "82", "83", "86", "87", "88", "89")),
    "DE": (("+49151", 8), ("+49160", 7), ("+49170", 7), ("+49171", 7), ("+49176", 8)),
    "GB": (("+447400", 6), ("+447723", 6), ("+447459", 6), ("+447888", 6)),
    "SE": (("+4670174", 4), ("+4673", 7), ("+4676", 7)),
    "FR": (("+3361", 7), ("+3362", 7), ("+3364", 7), ("+3366", 7), ("+3367", 7), ("+3377", 7)),
    "NL": (("+3161", 7), ("+3162", 7), ("+3164", 7), ("+3165", 7)),
    "IT": (("+39347", 7), ("+39333", 7), ("+39320", 7)),
    "AE": (("+97150", 7), ("+97155", 7)),
    "ZA": (("+2782", 7), ("+2772", 7)),
    "US": (("+1202555", 4), ("+1415555", 4), ("+1312555", 4)),
}
US_FICTIONAL_LINES = tuple(f"01{n:02d}" for n in range(100))  # 555-0100..0199

# ---- companies -------------------------------------------------------------------------------

# (hanzi, pinyin) brand words for Chinese company names.
ZH_BRANDS: tuple[tuple[str, str], ...] = (
    ("华星", "Huaxing"), ("恒通", "Hengtong"), ("博远", "Boyuan"), ("鼎力", "Dingli"),
    ("宏达", "Hongda"), ("金辰", "Jinchen"), ("新锐", "Xinrui"), ("天成", "Tiancheng"),
    ("瑞丰", "Ruifeng"), ("昌盛", "Changsheng"), ("凯达", "Kaida"), ("中鼎", "Zhongding"),
    ("永信", "Yongxin"), ("安泰", "Antai"), ("众诚", "Zhongcheng"), ("海川", "Haichuan"),
    ("信达", "Xinda"), ("启航", "Qihang"), ("德力", "Deli"), ("通宇", "Tongyu"),
    ("佳讯", "Jiaxun"), ("精工", "Jinggong"), ("长风", "Changfeng"), ("嘉信", "Jiaxin"),
    ("协力", "Xieli"), ("晟达", "Shengda"), ("联拓", "Liantuo"), ("同创", "Tongchuang"),
    ("聚能", "Juneng"), ("科诺", "Kenuo"), ("华瑞", "Huarui"), ("思源", "Siyuan"),
    ("博纳", "Bona"), ("立信", "Lixin"), ("钧达", "Junda"), ("盛科", "Shengke"),
    ("恒远", "Hengyuan"), ("优控", "Youkong"), ("迈科", "Maike"), ("锦程", "Jincheng"),
    ("天迈", "Tianmai"), ("智联", "Zhilian"), ("东润", "Dongrun"), ("泰和", "Taihe"),
    ("康宁", "Kangning"), ("仁和", "Renhe"), ("益康", "Yikang"), ("瑞康", "Ruikang"),
    ("和美", "Hemei"), ("福寿", "Fushou"), ("百瑞", "Bairui"), ("普瑞", "Purui"),
    ("禾信", "Hexin"), ("远航", "Yuanhang"), ("星河", "Xinghe"), ("云帆", "Yunfan"),
    ("致远", "Zhiyuan"), ("弘毅", "Hongyi"), ("明德", "Mingde"), ("嘉和", "Jiahe"),
)

# (full word, short form, English, slug token, industry column)
ZH_INDUSTRIAL_KINDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("自动化科技", "自动化", "Automation Technology", "auto", "Industrial automation"),
    ("精密仪器", "精密仪器", "Precision Instruments", "instr", "Precision instruments"),
    ("机电设备", "机电", "Electromechanical Equipment", "me", "Machinery"),
    ("电子科技", "电子", "Electronics Technology", "elec", "Electronics manufacturing"),
    ("智能装备", "智能装备", "Intelligent Equipment", "ie", "Machinery"),
    ("汽车零部件", "汽配", "Auto Parts", "auto-parts", "Automotive parts"),
    ("精密机械", "精机", "Precision Machinery", "pm", "Machinery"),
    ("电气", "电气", "Electric", "electric", "Electrical equipment"),
    ("新能源科技", "新能源", "New Energy Technology", "ne", "Batteries and new energy"),
    ("包装机械", "包装机械", "Packaging Machinery", "pack", "Packaging"),
    ("塑胶制品", "塑胶", "Plastic Products", "plastic", "Plastics and injection moulding"),
    ("半导体设备", "半导体", "Semiconductor Equipment", "semi", "Semiconductor equipment"),
    ("机器人", "机器人", "Robotics", "robot", "Robotics"),
    ("光电科技", "光电", "Optoelectronics", "opto", "Electronics manufacturing"),
)
# Chinese medical customers: (pattern, English pattern, slug token, industry, kind)
# kind: hospital, clinic or distributor; {c}=city, {b}=brand, {bp}=brand pinyin, {cp}=city pinyin
ZH_MEDICAL_KINDS: tuple[tuple[str, str, str, str, str], ...] = (
    ("{c}{b}医院", "{cp} {bp} Hospital", "hospital", "Hospital", "hospital"),
    ("{c}{b}妇产医院", "{cp} {bp} Women's Hospital", "wh", "Hospital", "hospital"),
    ("{c}{b}康复医院", "{cp} {bp} Rehabilitation Hospital", "rehab", "Hospital", "hospital"),
    ("{c}{b}国际医疗中心", "{cp} {bp} International Medical Centre", "imc", "Hospital", "hospital"),
    ("{b}口腔诊所（{c}）", "{bp} Dental Clinic {cp}", "dental", "Clinic", "clinic"),
    ("{c}{b}体检中心", "{cp} {bp} Health Check Centre", "health", "Clinic", "clinic"),
    ("{c}{b}医疗器械有限公司", "{cp} {bp} Medical Devices Co., Ltd.", "med", "Medical distribution",
     "distributor"),
    ("{c}{b}医疗科技有限公司", "{cp} {bp} Medical Technology Co., Ltd.", "medtech",
     "Medical distribution", "distributor"),
)

# Western company name parts per country: (place-ish prefixes, industrial words, medical
# patterns, legal forms).
WESTERN_PREFIXES: dict[str, tuple[str, ...]] = {
    "DE": ("Bavaria", "Rhein", "Schwaben", "Elbe", "Isar", "Neckar", "Franken", "Allgäu", "Hanse",
           "Spree", "Taunus", "Harz", "Donau", "Main"),
    "GB": ("Thames", "Pennine", "Mercia", "Clyde", "Severn", "Humber", "Cotswold", "Wessex",
           "Albion", "Chiltern"),
    "SE": ("Nordic", "Göta", "Mälar", "Norrland", "Skåne", "Vänern", "Svea", "Öresund"),
    "FR": ("Rhône", "Loire", "Alpes", "Provence", "Garonne", "Seine", "Atlantique"),
    "NL": ("Holland", "Delta", "Maas", "Zuiderzee", "Waal", "Brabant"),
    "IT": ("Lombarda", "Padana", "Adriatica", "Piemonte", "Emilia", "Tirrena"),
    "AE": ("Gulf", "Emirates", "Falcon", "Oasis"),
    "ZA": ("Cape", "Highveld", "Karoo", "Table Bay"),
}
WESTERN_INDUSTRIAL: dict[str, tuple[tuple[str, str], ...]] = {
    # (words after the prefix, industry column)
    "DE": (("Antriebstechnik GmbH", "Drive technology"), ("Automation GmbH", "Industrial automation"),
           ("Steuerungstechnik GmbH", "Industrial automation"), ("Maschinenbau GmbH & Co. KG", "Machinery"),
           ("Sensorik AG", "Sensors"), ("Elektrotechnik GmbH", "Electrical equipment"),
           ("Fördertechnik GmbH", "Intralogistics"), ("Verpackungstechnik GmbH", "Packaging"),
           ("Präzisionsteile GmbH", "Automotive parts")),
    "GB": (("Controls Ltd", "Industrial automation"), ("Automation Ltd", "Industrial automation"),
           ("Engineering plc", "Machinery"), ("Drives Ltd", "Drive technology"),
           ("Motion Systems Ltd", "Drive technology"), ("Precision Ltd", "Precision machinery")),
    "SE": (("Automation AB", "Industrial automation"), ("Industri AB", "Machinery"),
           ("Teknik AB", "Electrical equipment"), ("Robotics AB", "Robotics")),
    "FR": (("Automatismes SAS", "Industrial automation"), ("Robotique SA", "Robotics"),
           ("Mécanique de précision SARL", "Precision machinery"), ("Électronique SAS", "Electronics manufacturing")),
    "NL": (("Automation B.V.", "Industrial automation"), ("Technics B.V.", "Machinery"),
           ("Engineering B.V.", "Machinery")),
    "IT": (("Automazione S.r.l.", "Industrial automation"), ("Meccanica S.p.A.", "Machinery"),
           ("Elettronica S.r.l.", "Electronics manufacturing"), ("Robotica S.r.l.", "Robotics")),
    "AE": (("Industrial Controls LLC", "Industrial automation"), ("Automation FZE", "Industrial automation")),
    "ZA": (("Automation (Pty) Ltd", "Industrial automation"), ("Industrial Controls (Pty) Ltd", "Industrial automation")),
}
# {p}=prefix, {c}=city; (pattern, industry column, kind)
WESTERN_MEDICAL: dict[str, tuple[tuple[str, str, str], ...]] = {
    "DE": (("{p} Medizintechnik GmbH", "Medical distribution", "distributor"),
           ("Klinikum {c}-{p}", "Hospital", "hospital"),
           ("Praxisklinik {p}", "Clinic", "clinic"),
           ("{p} Kliniken GmbH", "Hospital", "hospital")),
    "GB": (("{p} Healthcare Ltd", "Medical distribution", "distributor"),
           ("{p} Private Hospital", "Hospital", "hospital"),
           ("{p} Diagnostic Clinic", "Clinic", "clinic")),
    "SE": (("{p} Medical AB", "Medical distribution", "distributor"),
           ("{p} Sjukhus", "Hospital", "hospital"),
           ("{p} Vårdcentral", "Clinic", "clinic")),
    "FR": (("{p} Médical Distribution SAS", "Medical distribution", "distributor"),
           ("Clinique {p}", "Clinic", "clinic"),
           ("Hôpital privé {p}", "Hospital", "hospital")),
    "NL": (("{p} Medical B.V.", "Medical distribution", "distributor"),
           ("{p} Ziekenhuis", "Hospital", "hospital")),
    "IT": (("{p} Medicale S.r.l.", "Medical distribution", "distributor"),
           ("Casa di Cura {p}", "Clinic", "clinic"),
           ("Ospedale {p}", "Hospital", "hospital")),
    "AE": (("{p} Medical Supplies LLC", "Medical distribution", "distributor"),
           ("{p} Specialty Hospital", "Hospital", "hospital")),
    "ZA": (("{p} Medical (Pty) Ltd", "Medical distribution", "distributor"),
           ("{p} Private Hospital", "Hospital", "hospital")),
}
# Share of EMEA accounts per country.
EMEA_COUNTRY_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("DE", 34), ("GB", 16), ("SE", 12), ("FR", 12), ("NL", 9), ("IT", 11), ("AE", 3), ("ZA", 3),
)

# ---- products --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProductDef:
    sku: str
    name: str
    name_zh: str  # what Chinese customers call it (used in Chinese activity text)
    business_line: str
    unit: str
    price_cny: int
    typical_qty: tuple[int, int]
    description: str


IA = "industrial_automation"
MD = "medical_devices"

PRODUCTS: tuple[ProductDef, ...] = (
    ProductDef("IA-PLC-1212", "Compact PLC CPU 12DI/12DO", "紧凑型PLC", IA, "pcs", 3800, (5, 60),
               "Compact controller with 12 digital inputs, 12 outputs, RS-485 and Ethernet."),
    ProductDef("IA-PLC-2416E", "Modular PLC CPU with dual Ethernet", "模块化PLC", IA, "pcs", 9600, (2, 30),
               "Modular CPU, 2 MB program memory, Modbus TCP, OPC UA server, up to 32 I/O modules."),
    ProductDef("IA-IO-16DI", "Digital input module 16 x 24 VDC", "数字量输入模块", IA, "pcs", 1200, (10, 200),
               "16 sink/source inputs, 4 ms filter, removable terminal block."),
    ProductDef("IA-IO-8AI", "Analog input module 8 x AI", "模拟量输入模块", IA, "pcs", 2400, (4, 80),
               "8 channels, 0-10 V / 4-20 mA, 16-bit resolution."),
    ProductDef("IA-SD-040", "Servo drive 400 W", "伺服驱动器 400W", IA, "pcs", 2800, (10, 120),
               "Single-axis servo drive, EtherCAT, safe torque off (STO)."),
    ProductDef("IA-SD-150", "Servo drive 1.5 kW", "伺服驱动器 1.5kW", IA, "pcs", 5200, (6, 80),
               "Single-axis servo drive, EtherCAT, STO SIL3, auto-tuning."),
    ProductDef("IA-SD-750", "Servo drive 7.5 kW", "伺服驱动器 7.5kW", IA, "pcs", 14500, (2, 24),
               "High-power servo drive for presses and winders, regenerative braking unit."),
    ProductDef("IA-SM-040", "Servo motor 400 W, 23-bit encoder", "伺服电机 400W", IA, "pcs", 1900, (10, 120),
               "Low-inertia servo motor, 3000 rpm, IP65."),
    ProductDef("IA-SM-150", "Servo motor 1.5 kW, 23-bit encoder", "伺服电机 1.5kW", IA, "pcs", 3900, (6, 80),
               "Medium-inertia servo motor with brake option, IP67."),
    ProductDef("IA-VFD-075", "Frequency inverter 7.5 kW", "变频器 7.5kW", IA, "pcs", 4600, (4, 60),
               "Vector-control inverter, built-in EMC filter, Modbus RTU."),
    ProductDef("IA-HMI-07", "HMI touch panel 7 inch", "7寸触摸屏", IA, "pcs", 2300, (5, 60),
               "800x480 touch panel, Ethernet and RS-232/485, IP65 front."),
    ProductDef("IA-HMI-10", "HMI touch panel 10.1 inch", "10寸触摸屏", IA, "pcs", 3600, (4, 50),
               "1280x800 capacitive panel, web server, remote access."),
    ProductDef("IA-HMI-15S", "HMI panel 15 inch, stainless steel", "15寸不锈钢触摸屏", IA, "pcs", 8900, (2, 20),
               "Hygienic stainless front for food and pharma lines, IP69K."),
    ProductDef("IA-SEN-PE", "Photoelectric sensor, diffuse 300 mm", "光电传感器", IA, "pcs", 260, (50, 800),
               "Background suppression, PNP/NPN, M12 connector."),
    ProductDef("IA-SEN-M12", "Inductive proximity sensor M12", "接近开关 M12", IA, "pcs", 120, (100, 1500),
               "4 mm flush, PNP NO, IP67."),
    ProductDef("IA-SEN-PT10", "Pressure transmitter 0-10 bar", "压力变送器", IA, "pcs", 980, (10, 150),
               "4-20 mA output, 0.25 % accuracy, stainless diaphragm."),
    ProductDef("IA-SEN-LD", "Laser distance sensor", "激光测距传感器", IA, "pcs", 2600, (4, 60),
               "Range 0.05-10 m, IO-Link, red laser class 2."),
    ProductDef("IA-ENC-ABS", "Absolute rotary encoder, multi-turn", "绝对值编码器", IA, "pcs", 1450, (10, 120),
               "25-bit multi-turn, SSI and EtherCAT variants."),
    ProductDef("IA-GW-MQTT", "IIoT gateway Modbus / OPC UA to MQTT", "物联网网关", IA, "pcs", 3200, (2, 40),
               "Edge gateway with TLS, store-and-forward buffer, remote configuration."),
    ProductDef("IA-EMC-RPT", "EMC test report (IEC 61000-4-2/3/4/5)", "EMC测试报告", IA, "report", 18000, (1, 3),
               "Accredited laboratory EMC test with report for CE and CCC files."),
    ProductDef("IA-CE-DOC", "CE conformity documentation package", "CE认证文件包", IA, "package", 25000, (1, 2),
               "Risk assessment, declaration of conformity and technical file for machinery."),
    ProductDef("IA-SVC-COM", "On-site commissioning (per day)", "现场调试服务", IA, "day", 3000, (2, 20),
               "Commissioning engineer on site, travel within the region included."),
    ProductDef("IA-TRN-PLC", "PLC programming training, 2 days", "PLC编程培训", IA, "course", 6000, (1, 4),
               "Hands-on training for up to 8 engineers."),
    ProductDef("IA-CBL-5M", "Servo cable set 5 m", "伺服电缆 5米", IA, "set", 380, (10, 120),
               "Power and encoder cable, drag-chain rated."),
    ProductDef("MD-US-P20", "Portable colour ultrasound system", "便携式彩超", MD, "unit", 180000, (1, 6),
               "Laptop-style ultrasound for point of care, 2 probe ports, DICOM."),
    ProductDef("MD-US-C90", "Cart-based colour Doppler ultrasound", "台式彩色多普勒超声", MD, "unit", 680000, (1, 3),
               "High-end system for radiology and cardiology, 4 probe ports, elastography."),
    ProductDef("MD-PRB-L7", "Linear probe 7.5 MHz", "线阵探头", MD, "pcs", 38000, (1, 6),
               "Vascular, small parts and MSK imaging."),
    ProductDef("MD-PRB-C3", "Convex probe 3.5 MHz", "凸阵探头", MD, "pcs", 35000, (1, 6),
               "Abdominal and obstetric imaging."),
    ProductDef("MD-PRB-TV", "Endocavity probe 6.5 MHz", "腔内探头", MD, "pcs", 42000, (1, 4),
               "Gynaecology and urology."),
    ProductDef("MD-PM-12", "Patient monitor 12.1 inch, 6 parameters", "病人监护仪", MD, "unit", 26000, (4, 60),
               "ECG, SpO2, NIBP, RESP, TEMP, PR; 72-hour trend storage."),
    ProductDef("MD-PM-15T", "Transport patient monitor 15 inch", "转运监护仪", MD, "unit", 38000, (2, 20),
               "Battery-powered transport monitor with IBP and EtCO2 modules."),
    ProductDef("MD-CMS-32", "Central monitoring station, 32 beds", "中央监护系统", MD, "system", 120000, (1, 3),
               "Central station with HL7 interface to the hospital information system."),
    ProductDef("MD-IP-V1", "Volumetric infusion pump", "输液泵", MD, "unit", 9800, (10, 150),
               "Drug library, dose error reduction, occlusion detection."),
    ProductDef("MD-SP-S1", "Syringe pump", "注射泵", MD, "unit", 7600, (10, 150),
               "5-60 ml syringes, anaesthesia mode, 8-hour battery."),
    ProductDef("MD-IP-WS8", "Infusion workstation for 8 pumps", "输液工作站", MD, "unit", 22000, (2, 30),
               "Docking rack with shared power and network for 8 pumps."),
    ProductDef("MD-SET-IV", "Infusion sets, box of 50", "输液器（50套/盒）", MD, "box", 450, (20, 600),
               "Anti-free-flow infusion sets for the volumetric pump."),
    ProductDef("MD-SPO2-A", "SpO2 sensor, adult, reusable", "成人血氧探头", MD, "pcs", 320, (10, 200),
               "Finger clip sensor, 3 m cable."),
    ProductDef("MD-ECG-5L", "ECG cable, 5 leads", "五导联心电线", MD, "pcs", 280, (10, 200),
               "Defibrillation-proof trunk cable with snap leads."),
    ProductDef("MD-NIBP-C", "NIBP cuff, adult", "成人血压袖带", MD, "pcs", 150, (10, 300),
               "Reusable single-tube cuff, 25-35 cm."),
    ProductDef("MD-SVC-1Y", "Extended warranty and service, 1 year", "延保服务（1年）", MD, "year", 15000, (1, 10),
               "Parts, labour and two preventive maintenance visits per year."),
    ProductDef("MD-TRN-CLN", "Clinical application training (per day)", "临床应用培训", MD, "day", 4000, (1, 5),
               "Application specialist on site for ward or department training."),
    ProductDef("MD-SVC-PM", "Preventive maintenance visit", "预防性维护", MD, "visit", 2500, (1, 12),
               "Electrical safety test and calibration per IEC 62353."),
)

# Product families (first matching SKU prefix wins).
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("IA-PLC", "plc"), ("IA-IO", "plc"), ("IA-SD", "drive"), ("IA-SM", "drive"),
    ("IA-VFD", "drive"), ("IA-CBL", "drive"), ("IA-HMI", "hmi"), ("IA-SEN", "sensor"),
    ("IA-ENC", "sensor"), ("IA-GW", "gateway"), ("IA-", "service"), ("MD-US", "ultrasound"),
    ("MD-PRB", "ultrasound"), ("MD-PM", "monitor"), ("MD-CMS", "monitor"),
    ("MD-SPO2", "consumable"), ("MD-ECG", "consumable"), ("MD-NIBP", "consumable"),
    ("MD-SET", "consumable"), ("MD-IP", "pump"), ("MD-SP", "pump"), ("MD-", "service"),
)


def product_family(sku: str) -> str:
    return next(family for prefix, family in _FAMILIES if sku.startswith(prefix))


# Price lists: (name, currency, region code or None, factor from the CNY list price)
PRICE_LISTS: tuple[tuple[str, str, str | None, float], ...] = (
    ("East China list price 华东价目表 (CNY)", "CNY", "CN-E", 1.0),
    ("South China list price 华南价目表 (CNY)", "CNY", "CN-S", 0.97),
    ("EMEA list price (EUR)", "EUR", "EMEA", 1.18 / 7.8),
    ("Export list price (USD)", "USD", None, 1.1 / 7.2),
)

# ---- organisation ----------------------------------------------------------------------------

# (code, name, currency)
REGIONS: tuple[tuple[str, str, str], ...] = (
    ("CN-E", "East China 华东", "CNY"),
    ("CN-S", "South China 华南", "CNY"),
    ("EMEA", "EMEA", "EUR"),
)
REGION_CITIES: dict[str, tuple[City, ...]] = {
    "CN-E": EAST_CHINA, "CN-S": SOUTH_CHINA, "EMEA": EMEA_CITIES,
}

DEMO_PASSWORD = "rapport-demo"  # noqa: S105 - the published demo password
DEMO_EMAIL = "demo@example.com"
DEMO_ZH_EMAIL = "demo-zh@example.com"
