#!/usr/bin/env python3
"""gen_casedb - realistic, messy case data for tests/fixtures/casedb.sql.

    python3 tools/gen_casedb.py --decisions N [--seed S] [--today D]
                                [--start-date D] [--days K]
                                [-o FILE] [--manifest FILE]

Writes SQL (psql COPY blocks, one transaction) filling the `cms` schema of
tests/fixtures/casedb.sql; sql/source-view.example.sql then exposes it as
epsync_source.decisions.  The same seed always gives the same data.

Every decision falls in exactly one category, so tests know what epsync
must make of it:

  valid                   final, publishable (once due)
  invalid_bad_uscc        an organisation whose credit code has a wrong check char
  invalid_bad_idno        a natural person whose ID number has a wrong check char
  invalid_missing_doc_no  a final penalty without its document number
  confidential            not_public (never sent, listed as excluded)
  minor                   a natural person under 18 on decided_on (excluded)
  revoked                 已撤销 (withdrawn wherever it was published)
  draft                   草稿 / 审批中 / 退回 (ignored)

The summary (counts by category, kind, party type, special cases) goes to
stderr; --manifest writes the decision ids per category as JSON.

The data is deliberately awkward: every kind (penalties most), companies,
branches, social organisations and individual businesses with valid credit
codes (GB 32100, organisation codes per GB 11714), natural persons with
valid ID numbers (GB 11643, some ending in X), compound surnames and
characters beyond the BMP, quotes and backslashes, addresses, phones and ID
numbers inside the facts, a few 50,000-character facts, kind codes in two
spellings, decision dates on working days mostly but also on weekends and
public holidays - never after --today.

Speed: decisions are made in chunks of 10,000, each from its own generator
seeded with (seed, chunk number), by one process per CPU, each writing a
file that is then appended to the output; 1,000,000 decisions (about 1 GB
of SQL) cost about 100 s of CPU time, shared among the cores.  The same arguments
give the same bytes, except that no timestamp is allowed past the wall
clock: with --today in the past the output is fully reproducible.
"""

import argparse
import bisect
import datetime
import itertools
import json
import multiprocessing
import operator
import os
import shutil
import tempfile
import random
import sys
import time

# --- check characters ---------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ORG_ALPHABET = USCC_ALPHABET[:29]        # GB 11714 body characters, minus X and Y
USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ORG_VALUE = {c: (int(c) if c.isdigit() else ord(c) - 55) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def uscc_check(first17):
    """GB 32100-2015: 31 - (sum mod 31), 31 -> 0."""
    s = sum(map(operator.mul, map(USCC_VALUE.__getitem__, first17), USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - s % 31) % 31]


def org_check(first8):
    """GB 11714-1997 organisation code: 11 - (sum mod 11); 10 -> X, 11 -> 0."""
    s = sum(map(operator.mul, map(ORG_VALUE.__getitem__, first8), ORG_WEIGHTS))
    v = 11 - s % 11
    return "X" if v == 10 else "0" if v == 11 else str(v)


def idno_check(first17):
    """GB 11643-1999, ISO 7064 MOD 11-2."""
    return ID_CHECK[sum(map(operator.mul, map(int, first17), ID_WEIGHTS)) % 11]


def wrong(alphabet, right, r):
    """A character of alphabet other than right."""
    c = right
    while c == right:
        c = alphabet[int(r() * len(alphabet))]
    return c


# --- calendar (days off incl. weekends, weekend working days) -----------------


def _days(*ranges):
    out = set()
    for a, b in ranges:
        d, e = datetime.date.fromisoformat(a), datetime.date.fromisoformat(b)
        while d <= e:
            out.add(d)
            d += datetime.timedelta(days=1)
    return out


HOLIDAYS = _days(
    ("2025-01-01", "2025-01-01"), ("2025-01-28", "2025-02-04"), ("2025-04-04", "2025-04-06"),
    ("2025-05-01", "2025-05-05"), ("2025-05-31", "2025-06-02"), ("2025-10-01", "2025-10-08"),
    ("2026-01-01", "2026-01-03"), ("2026-02-15", "2026-02-23"), ("2026-04-04", "2026-04-06"),
    ("2026-05-01", "2026-05-05"), ("2026-06-19", "2026-06-21"), ("2026-09-25", "2026-09-27"),
    ("2026-10-01", "2026-10-07"))
WORKDAYS = {datetime.date.fromisoformat(d) for d in (
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")}


def adult_on(birth):
    """The 18th birthday, epsync's age rule (src/mask.c mask_adult_on): a
    person is a minor on day D when D < adult_on(birth), an adult on the
    birthday itself.  Born on 29 February: 1 March, since the 18th year
    never has a 29 February."""
    if (birth.month, birth.day) == (2, 29):
        return datetime.date(birth.year + 18, 3, 1)
    return birth.replace(year=birth.year + 18)


def born_18_years_before(on):
    """The birth dates whose 18th birthday is `on` (none for 29 February)."""
    out = []
    for y, m, d in ((on.year - 18, on.month, on.day), (on.year - 18, 2, 29)):
        try:
            b = datetime.date(y, m, d)
        except ValueError:
            continue
        if adult_on(b) == on and b not in out:
            out.append(b)
    return out


def is_working_day(d):
    if d in WORKDAYS:
        return True
    return d.weekday() < 5 and d not in HOLIDAYS


# --- vocabulary -------------------------------------------------------------------

SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎")
COMPOUND_SURNAMES = ["欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "尉迟", "公孙"]
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂华建国志红玉兰海波宁鹏飞俊浩宇晨欣怡子涵梓轩雨婷佳琪")
RARE = ["𠮷", "𡈼", "𪚥", "䶮", "㛃", "喆", "堃", "淼", "昇"]   # beyond the BMP, CJK ext. A, rare
MINORITY = ["阿不都·热合曼", "买买提·吐尔逊", "古丽·艾山", "扎西·次仁"]
FOREIGN = [("John O'Brien", "E"), ("Marie-Claire D'Arcy", "G"), ("KIM Min-jun", "M"),
           ("Ivan \"Vanya\" Petrov", "P")]

DISTRICTS = [("130102", "长安区"), ("130104", "桥西区"), ("130105", "新华区"), ("130107", "井陉矿区"),
             ("130108", "裕华区"), ("130109", "藁城区"), ("130110", "鹿泉区"), ("130111", "栾城区"),
             ("130123", "正定县")]
BIRTH_REGIONS = [r for r, _ in DISTRICTS] + ["130181", "130183", "130429", "131102", "410102",
                                                "370102", "140105", "110105"]
ROADS = ["中山东路", "中山西路", "建设南大街", "和平西路", "裕华东路", "槐安路", "友谊大街", "胜利北街",
         "体育南大街", "平安大街", "北二环东路", "东风路", "南二环西路", "石获南路", "塔冢东路"]
ESTATES = ["和谐家园", "东方明珠小区", "红旗小区", "新苑", "联盟小区", "翠屏山庄", "荣盛锦绣"]
BRANDS = ["华信", "恒泰", "永盛", "鑫源", "金凯", "德馨", "润丰", "嘉禾", "百佳", "福瑞", "𠮷祥",
          "\"老字号\"", "康达", "新世纪", "宏达", "天宇", "瑞景"]
TRADES = [("商贸", "有限公司"), ("食品", "有限公司"), ("医药连锁", "有限公司"), ("餐饮管理", "有限公司"),
          ("电梯工程", "有限公司"), ("建材", "有限责任公司"), ("科技", "股份有限公司"),
          ("超市", "有限公司"), ("加油站", "有限公司"), ("广告传媒", "有限公司")]
SHOPS = ["烧饼店", "副食店", "便利店", "水果店", "理发店", "餐馆", "五金店", "药店", "眼镜店", "早点铺"]
BANKS = ["中国工商银行", "中国建设银行", "中国农业银行", "河北银行", "石家庄汇融农村合作银行"]

# (cause, legal basis, [(penalty categories, weight)], fine range in yuan)
CAUSES = [
    ("销售不合格产品", "《中华人民共和国产品质量法》第四十九条",
     [("罚款,没收违法所得", 5), ("没收非法财物,罚款,没收违法所得", 2)], (3000, 200000)),
    ("经营超过保质期的食品", "《中华人民共和国食品安全法》第一百二十四条第一款第（五）项",
     [("没收违法所得,罚款", 4), ("没收非法财物,罚款", 2)], (50000, 100000)),
    ("未取得食品经营许可从事食品经营活动", "《中华人民共和国食品安全法》第一百二十二条第一款",
     [("没收违法所得,没收非法财物,罚款", 3)], (50000, 100000)),
    ("未建立并遵守进货查验记录制度", "《中华人民共和国食品安全法》第一百二十六条第一款第（三）项",
     [("警告", 6), ("罚款", 2)], (5000, 50000)),
    ("虚假宣传", "《中华人民共和国反不正当竞争法》第二十条第一款", [("罚款", 5)], (200000, 1000000)),
    ("发布虚假广告", "《中华人民共和国广告法》第五十五条第一款", [("罚款", 3), ("罚款,吊销许可证件", 1)],
     (20000, 200000)),
    ("不按规定明码标价", "《中华人民共和国价格法》第四十二条、《明码标价和禁止价格欺诈规定》第二十一条",
     [("警告", 5), ("通报批评", 1), ("罚款", 3)], (500, 5000)),
    ("使用未经检定的计量器具", "《中华人民共和国计量法实施细则》第四十三条",
     [("没收违法所得,罚款", 3), ("罚款", 2)], (500, 1000)),
    ("无照经营", "《无证无照经营查处办法》第十三条", [("罚款", 3), ("没收违法所得,罚款", 1)],
     (500, 10000)),
    ("特种设备未经定期检验继续使用", "《中华人民共和国特种设备安全法》第八十四条第一项",
     [("责令停产停业,罚款", 2), ("罚款", 3)], (30000, 300000)),
    ("侵犯注册商标专用权", "《中华人民共和国商标法》第六十条第二款",
     [("没收非法财物,罚款", 4)], (10000, 250000)),
    ("生产经营禁止生产经营的食品且情节严重", "《中华人民共和国食品安全法》第一百二十三条",
     [("没收违法所得,没收非法财物,罚款,吊销许可证件,限制从业", 1),
      ("罚款,限制开展生产经营活动", 1)], (100000, 500000)),
]
FINE_STEPS = [500, 800, 1000, 2000, 3000, 5000, 8000, 10000, 20000, 30000, 50000, 80000, 100000,
              150000, 200000, 300000, 500000, 1000000]
LICENSES = [("食品经营许可", "JY1", "预包装食品（含冷藏冷冻食品）销售，散装食品销售，热食类食品制售"),
            ("食品生产许可", "SC1", "糕点（烘烤类糕点），饮料（蛋白饮料）"),
            ("药品经营许可", "冀AA", "中药饮片、中成药、化学药制剂、抗生素制剂、生化药品"),
            ("特种设备安装改造修理许可", "TS3", "乘客电梯A2级安装、修理"),
            ("计量标准考核", "[2026]冀量标石", "出租车计价器检定装置")]
OTHER_KINDS = [("QT", "行政确认", "对当事人提交的名称自主申报予以确认"),
               ("XZQR", "行政确认", "确认计量器具型式"),
               ("QT", "行政奖励", "对举报违法行为的举报人给予奖励人民币2000元")]

# Who is the party, by kind: (type, weight).
PARTY_MIX = {
    "penalty": [("法人", 44), ("非法人组织", 6), ("个体工商户", 30), ("自然人", 20)],
    "license": [("法人", 55), ("非法人组织", 10), ("个体工商户", 35)],
    "inspection": [("法人", 55), ("非法人组织", 5), ("个体工商户", 35), ("自然人", 5)],
    "coercion": [("法人", 50), ("个体工商户", 35), ("自然人", 15)],
    "levy": [("法人", 70), ("个体工商户", 30)],
    "other": [("法人", 60), ("个体工商户", 30), ("自然人", 10)],
}
KIND_MIX = [("penalty", 60), ("license", 18), ("inspection", 10), ("coercion", 6), ("levy", 2),
            ("other", 4)]
KIND_CODES = {"penalty": ("CF", "行政处罚"), "license": ("XK", "行政许可"),
              "inspection": ("JC", "行政检查"), "coercion": ("QZ", "行政强制"),
              "levy": ("ZS", "行政征收")}
CATEGORY_MIX = [("valid", 821), ("invalid_bad_uscc", 15), ("invalid_bad_idno", 15),
                ("invalid_missing_doc_no", 20), ("confidential", 30), ("minor", 7),
                ("revoked", 20), ("draft", 72)]
CATEGORIES = [c for c, _ in CATEGORY_MIX]
NOT_PUBLIC_REASONS = ["涉及国家秘密", "涉及商业秘密", "涉及个人隐私", "公开后可能危及国家安全、公共安全、经济安全和社会稳定"]
LONG_FACTS = 50000
CASE_NAMES = {"penalty": "%s%s案", "license": "%s申请许可%s", "inspection": "对%s的监督检查%s",
              "coercion": "%s涉嫌违法查封扣押%s"}

COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
CST = datetime.timezone(datetime.timedelta(hours=8))


class Gen:
    """Draws every row from one seeded generator, in a fixed order."""

    def __init__(self, seed, today, first_day, ndays):
        self.rng = random.Random(seed)
        self.r = self.rng.random
        self.today = today
        days = [first_day + datetime.timedelta(days=k) for k in range(ndays)]
        days = [d for d in days if d <= today] or [today]
        # Decisions are made on working days mostly; some fall on weekends
        # and public holidays (weekend duty, urgent coercion measures).
        self.days = days
        self.day_weights = [10 if is_working_day(d) else 1 for d in days]
        self.cap = time.time() - 60
        self._epochs, self._days = {}, {}
        self.counters = {}
        self.doc_base = 0
        self._tables = {}
        self._homes, self._premises = [], []
        self.stats = {}
        self.party_pool = []            # valid organisations, reused as parties
        self.next_party = 1
        self._units()

    # small helpers: random.choice and friends are slower than indexing
    def pick(self, seq):
        return seq[int(self.r() * len(seq))]

    def weighted(self, pairs):
        """One value of [(value, weight)]; tables are prepared once."""
        t = self._tables.get(id(pairs))
        if t is None:
            cum = list(itertools.accumulate(w for _, w in pairs))
            t = self._tables[id(pairs)] = ([v for v, _ in pairs], cum, cum[-1])
        return t[0][bisect.bisect(t[1], self.r() * t[2])]

    def digits(self, n):
        return "%0*d" % (n, int(self.r() * 10 ** n))

    def count(self, key, n=1):
        self.stats[key] = self.stats.get(key, 0) + n

    # --- identifiers ---------------------------------------------------------
    def org_code(self):
        if self.r() < 0.6:      # codes issued since 2015 start with MA
            body = "MA" + "".join(self.rng.choices(ORG_ALPHABET, k=6))
        else:
            body = self.digits(8)
        return body + org_check(body)

    def uscc(self, prefix2, region, bad=False):
        first = prefix2 + region + self.org_code()
        check = uscc_check(first)
        return first + (wrong(USCC_ALPHABET, check, self.r) if bad else check)

    def idno(self, birth, bad=False, want_x=False):
        region = self.pick(BIRTH_REGIONS)
        while True:
            first = "%s%04d%02d%02d%03d" % (region, birth.year, birth.month, birth.day,
                                            int(self.r() * 1000))
            check = idno_check(first)
            if not want_x or check == "X":
                break
        if check == "X":
            self.count("id_numbers_ending_in_X")
        return first + (wrong("0123456789X", check, self.r) if bad else check)

    def birth(self, on, min_age, max_age):
        years = min_age + int(self.r() * (max_age - min_age))
        try:
            b = on.replace(year=on.year - years)
        except ValueError:      # 29 February
            b = on.replace(year=on.year - years, day=28)
        return b - datetime.timedelta(days=1 + int(self.r() * 360))

    def person_name(self):
        x = self.r()
        if x < 0.015:
            return self.pick(MINORITY)
        surname = self.pick(COMPOUND_SURNAMES) if x < 0.04 else self.pick(SURNAMES)
        given = self.pick(GIVEN) + (self.pick(GIVEN) if self.r() < 0.7 else "")
        if self.r() < 0.01:
            given = given[:1] + self.pick(RARE)
            self.count("names_with_rare_characters")
        return surname + given

    def phone(self):
        if self.r() < 0.15:
            return "0311-8" + self.digits(7)
        return "1" + self.pick("3578913579") + self.digits(9)

    def address(self, home):
        """Addresses come from a pool per chunk: composing one is slow, and
        neighbours sharing a building is realistic anyway."""
        pool = self._homes if home else self._premises
        if len(pool) < 4000:
            pool.append(self._address(home))
            return pool[-1]
        return self.pick(pool)

    def _address(self, home):
        _, dname = self.pick(DISTRICTS)
        a = "河北省石家庄市%s%s%d号" % (dname, self.pick(ROADS), 1 + int(self.r() * 400))
        if home:
            a += "%s%d号楼%d单元%d室" % (self.pick(ESTATES), 1 + int(self.r() * 30),
                                      1 + int(self.r() * 4), 101 + int(self.r() * 2500))
        elif self.r() < 0.3:
            a += "%s层%d号商铺" % (self.pick("一二三"), 1 + int(self.r() * 60))
        return a

    def bank(self):
        return "%s石家庄%s支行 %s" % (self.pick(BANKS), self.pick(DISTRICTS)[1], self.digits(19))

    # --- organisation units ------------------------------------------------
    def _units(self):
        # Fixed per seed-independent generator so authorities keep their codes.
        keep = self.rng
        self.rng = random.Random("epsync-org-units")
        self.r = self.rng.random
        self.unit_rows = []
        self.authorities = []           # (id, abbreviation, [handling unit ids], licensing unit)
        uid = 1
        city = uid
        self.unit_rows.append((city, None, "石家庄市市场监督管理局",
                               self.uscc("11", "130100"), True, "130100"))
        subs = []
        for name in ("执法稽查局", "食品经营安全监督管理处", "特种设备安全监察处", "行政审批处"):
            uid += 1
            self.unit_rows.append((uid, city, name, None, False, "130100"))
            subs.append(uid)
        self.authorities.append((city, "石市监", subs[:3], subs[3]))
        for region, dname in DISTRICTS:
            uid += 1
            aid = uid
            self.unit_rows.append((aid, None, "石家庄市%s市场监督管理局" % dname,
                                   self.uscc("11", region), True, region))
            subs = []
            for name in ("%s城区市场监督管理所" % dname[:-1], "%s开发区市场监督管理所" % dname[:-1],
                         "行政审批科"):
                uid += 1
                self.unit_rows.append((uid, aid, name, None, False, region))
                subs.append(uid)
            self.authorities.append((aid, dname[0] + "市监", subs[:2], subs[2]))
        self.officers = ["%s、%s" % (self.person_name(), self.person_name()) for _ in range(40)]
        self.rng = keep
        self.r = keep.random

    # --- rows -----------------------------------------------------------------
    def stamp(self, day, earliest_hour, spread_days):
        """A timestamp on day (CST) or up to spread_days later, never later
        than a minute ago: the case system cannot have written the future.
        Arithmetic on cached day strings: datetime is too slow for 10^6 rows."""
        off = int(earliest_hour * 3600 + self.r() * (9 * 3600 + spread_days * 86400))
        base = self.day_epoch(day)
        if base + off > self.cap:
            off = max(0, int(self.cap - base - self.r() * 3600))
        dd, rem = divmod(off, 86400)
        ds = self.day_str(day.toordinal() + dd)
        return "%s %02d:%02d:%02d+08" % (ds, rem // 3600, rem // 60 % 60, rem % 60)

    def day_epoch(self, day):
        e = self._epochs.get(day)
        if e is None:
            e = self._epochs[day] = datetime.datetime(day.year, day.month, day.day,
                                                      tzinfo=CST).timestamp()
        return e

    def day_str(self, ordinal):
        s = self._days.get(ordinal)
        if s is None:
            s = self._days[ordinal] = datetime.date.fromordinal(ordinal).isoformat()
        return s

    def party(self, ptype, on, category):
        """A new party row (a tuple in COPY column order)."""
        pid = self.next_party
        self.next_party += 1
        bad_uscc = category == "invalid_bad_uscc"
        credit = legal_rep = id_type = id_no = None
        region, dname = self.pick(DISTRICTS)
        if ptype == "法人":
            trade, suffix = self.pick(TRADES)
            name = "%s%s%s%s" % (self.pick(("石家庄市", "河北", "石家庄")), self.pick(BRANDS), trade, suffix)
            credit = self.uscc("91", region, bad_uscc)
            legal_rep = self.person_name()
            home = False
        elif ptype == "非法人组织":
            trade, suffix = self.pick(TRADES)
            x = self.r()
            if x < 0.6:
                name = "石家庄%s%s%s%s分公司" % (self.pick(BRANDS), trade, suffix, dname)
            elif x < 0.8:
                name = "石家庄市%s%s中心（个人独资）" % (self.pick(BRANDS), trade)
            else:
                name = "石家庄%s%s企业管理中心（有限合伙）" % (self.pick(BRANDS), dname[:-1])
            credit = self.uscc("91", region, bad_uscc)
            legal_rep = self.person_name()
            home = False
        elif ptype == "个体工商户":
            legal_rep = self.person_name()
            name = "%s%s%s" % (dname, self.pick((legal_rep[0] + "记", self.pick(BRANDS), "老" + legal_rep[0])),
                               self.pick(SHOPS))
            if self.r() < 0.9 or bad_uscc:
                credit = self.uscc("92", region, bad_uscc)
            id_type, id_no = "111", self.idno(self.birth(on, 22, 70))
            home = False
        else:
            home = True
            if category == "minor":
                name = self.person_name()
                id_type, id_no = "111", self.idno(self.birth(on, 14, 18))
            elif category not in ("invalid_bad_idno",) and self.r() < 0.01:
                name, letter = self.pick(FOREIGN)
                id_type, id_no = "414", letter + self.digits(8)
                self.count("passports")
            else:
                name = self.person_name()
                born = born_18_years_before(on)
                if category != "invalid_bad_idno" and self.r() < 0.002 and born:
                    b = born[-1]          # 29 February when on is its 1 March
                    self.count("adults_on_their_18th_birthday")
                else:
                    b = self.birth(on, 20, 75)
                id_type = "111"
                id_no = self.idno(b, bad=category == "invalid_bad_idno", want_x=self.r() < 0.03)
        created = self.stamp(on - datetime.timedelta(days=30 + int(self.r() * 700)), 8, 0)
        row = (pid, ptype, name, credit, legal_rep, id_type, id_no, self.address(home),
               self.phone(), self.bank() if self.r() < 0.4 else None, created, created)
        if ptype in ("法人", "个体工商户") and category == "valid" and len(self.party_pool) < 20000:
            self.party_pool.append(row)
        return row

    def doc_no(self, abbr, word, year):
        key = (abbr, word, year)
        n = self.counters[key] = self.counters.get(key, 0) + 1
        return "%s%s〔%d〕%d号" % (abbr, word, year, self.doc_base + n)

    def sprinkle(self, text, party):
        """Quotes, backslashes and the party's own contact data in free text:
        what clerks really type, and what epsync must scrub."""
        x = self.r()
        if x < 0.03:
            text += "当事人辩称其商品系\"正品\"，'无需'提供票据。"
            self.count("text_with_ascii_quotes")
        elif x < 0.04:
            text += "电子证据存放于D:\\案件材料\\%d\\现场照片\\，备份于\\\\nas01\\zf。" % self.today.year
            self.count("text_with_backslashes")
        return text

    def penalty(self, party, day, year, abbr, category):
        cause, basis, combos, (lo, hi) = self.pick(CAUSES)
        cats = self.weighted(combos).split(",")
        natural = party[1] == "自然人"
        fine = confiscated = licence = until = None
        parts = []
        for c in cats:
            if c == "警告":
                parts.append("给予警告")
            elif c == "通报批评":
                parts.append("通报批评")
            elif c == "罚款":
                steps = [s for s in FINE_STEPS if lo <= s <= hi] or [lo]
                fine = self.pick(steps) if self.r() < 0.9 else round(lo + self.r() * (hi - lo), 2)
                if natural and self.r() < 0.3:
                    fine = self.pick((200, 500, 800, 1000))
                parts.append("罚款人民币%s元" % fine)
            elif c == "没收违法所得":
                confiscated = round(50 + self.r() * 20000, 2)
                parts.append("没收违法所得%.2f元" % confiscated)
            elif c == "没收非法财物":
                parts.append("没收涉案产品%d件" % (1 + int(self.r() * 500)))
            elif c == "吊销许可证件":
                lic, prefix, _ = self.pick(LICENSES)
                licence = "吊销《%s证》，编号%s%s" % (lic, prefix, self.digits(13))
                parts.append(licence)
            elif c == "责令停产停业":
                parts.append("责令停产停业%d日" % self.pick((15, 30, 60)))
            elif c in ("限制开展生产经营活动", "限制从业"):
                years = self.pick((1, 3, 5, 10))
                parts.append("%s%d年" % (c, years))
                until = day.replace(year=day.year + years) if not (day.month == 2 and day.day == 29) \
                    else day.replace(year=day.year + years, day=28)
        where = "在其经营场所"
        if self.r() < 0.3:
            where = "在位于%s的%s" % (party[7], "住所" if natural else "经营场所")
            self.count("address_inside_facts")
        who = party[2]
        if self.r() < 0.05:
            who += "（联系电话：%s）" % party[8]
            self.count("phone_inside_facts")
        if party[6] and party[5] == "111" and self.r() < 0.1:
            who += "（公民身份号码：%s）" % party[6]
            self.count("id_number_inside_facts")
        facts = ("经查，%d年%d月%d日，当事人%s%s%s。涉案货值金额%.2f元，违法所得%.2f元。"
                 "上述事实有现场笔录、询问笔录、抽样检验报告、进货票据等证据证实。" % (
                     day.year, day.month, max(1, day.day - 1), who, where, cause,
                     self.r() * 50000, self.r() * 8000))
        facts = self.sprinkle(facts, party)
        self.penalties = getattr(self, "penalties", 0) + 1
        if self.penalties % 10000 == 5 and category in ("valid", "confidential", "revoked"):
            para = facts + "经进一步调查，当事人自%d年起持续实施上述行为，涉及批次众多，详见附表。" % (year - 2)
            facts = (para * (LONG_FACTS // len(para) + 1))[:LONG_FACTS]
            self.count("facts_of_50000_characters")
        if category == "invalid_missing_doc_no":
            doc = "" if self.r() < 0.25 else None
        else:
            doc = self.doc_no(abbr, "罚决字", year)
        content = "，".join(parts) + "。"
        return (doc, "{%s}" % ",".join(cats), fine, confiscated, licence, facts, content, basis,
                None, None, until, cause)

    def other_kind(self, kind, party, day, year, abbr):
        """(doc_no, categories, fine, confiscated, licence, facts, content, basis,
        valid_from, valid_until, publicity_until, cause) of a non-penalty."""
        if kind == "license":
            lic, prefix, scope = self.pick(LICENSES)
            until = day.replace(year=day.year + 5) if not (day.month == 2 and day.day == 29) \
                else day.replace(year=day.year + 5, day=28)
            until -= datetime.timedelta(days=1)
            content = "准予%s。许可证编号：%s%s；许可范围：%s。" % (lic, prefix, self.digits(13), scope)
            return (self.doc_no(abbr, "许字", year), None, None, None, None, None, content,
                    "《中华人民共和国行政许可法》第三十八条第一款", day, until, None, None)
        if kind == "inspection":
            result = self.pick(("未发现违法行为", "发现进货查验记录不全，已当场责令改正",
                                "发现部分商品未明码标价，责令限期三日内改正"))
            facts = "%d年%d月%d日，执法人员对%s的经营场所开展%s监督检查，%s。" % (
                day.year, day.month, day.day, party[2],
                self.pick(("食品安全", "价格", "计量", "特种设备安全", "产品质量")), result)
            doc = self.doc_no(abbr, "检字", year) if self.r() < 0.5 else None
            return (doc, None, None, None, None, self.sprinkle(facts, party), "检查结果：" + result,
                    "《中华人民共和国行政处罚法》第五十四条、第五十五条", None, None, None, None)
        if kind == "coercion":
            goods = self.pick(("涉嫌侵权的运动鞋", "超过保质期的乳制品", "无合格证明的电动自行车",
                               "来源不明的白酒"))
            n = 1 + int(self.r() * 800)
            facts = "当事人涉嫌经营%s，有证据证明涉案物品可能被转移、隐匿。" % goods
            return (self.doc_no(abbr, "强字", year), None, None, None, None, facts,
                    "对%s%d件予以查封（扣押），期限三十日。" % (goods, n),
                    "《中华人民共和国行政强制法》第二十二条、第二十四条", None, None, None, None)
        if kind == "levy":
            amount = round(100 + self.r() * 20000, 2)
            return (self.doc_no(abbr, "征字", year), None, None, None, None, None,
                    "依法征收人民币%.2f元。" % amount, "《中华人民共和国行政事业性收费管理规定》",
                    None, None, None, None)
        code, word, content = self.pick(OTHER_KINDS)
        self.other_code = code
        return (self.doc_no(abbr, "确字", year) if self.r() < 0.7 else None, None, None, None, None,
                None, "%s：%s。" % (word, content), "《市场监督管理行政许可程序暂行规定》",
                None, None, None, None)

    def kind_code(self, kind):
        if kind == "other":
            return self.other_code
        code, zh = KIND_CODES[kind]
        x = self.r()
        if x < 0.15:            # rows migrated from the old system
            return zh
        if x < 0.17:            # hand-typed codes
            return " " + code.lower()
        return code

    def decision(self, i, category, day):
        """(party row or None when reused, case row, decision row, decision id, kind)."""
        if category == "invalid_missing_doc_no" or category in ("invalid_bad_idno", "minor"):
            kind = "penalty"
        else:
            kind = self.weighted(KIND_MIX)
        if category in ("invalid_bad_idno", "minor"):
            ptype = "自然人"
        elif category == "invalid_bad_uscc":
            ptype = self.pick(("法人", "法人", "非法人组织", "个体工商户"))
        else:
            ptype = self.weighted(PARTY_MIX[kind])
        reuse = (category in ("valid", "confidential", "revoked", "draft") and ptype != "自然人"
                 and self.party_pool and self.r() < 0.1)
        if reuse:
            party = self.pick(self.party_pool)
            new_party = None
            self.count("parties_reused")
        else:
            party = new_party = self.party(ptype, day, category)
        year = day.year
        aid, abbr, handlers, licensing = self.authorities[0 if self.r() < 0.3 else
                                                          1 + int(self.r() * (len(self.authorities) - 1))]
        handler = licensing if kind == "license" else self.pick(handlers)
        if kind == "penalty":
            d = self.penalty(party, day, year, abbr, category)
        else:
            d = self.other_kind(kind, party, day, year, abbr)
        (doc, cats, fine, confiscated, licence, facts, content, basis,
         valid_from, valid_until, until, cause) = d

        status, decided, not_public, reason, remarks = "已生效", day, False, None, None
        case_status = self.pick(("决定", "执行", "结案"))
        if category == "draft":
            status = self.weighted((("草稿", 6), ("审批中", 3), ("退回", 1)))
            case_status = "审核"
            if status == "草稿" and self.r() < 0.5:
                decided, doc = None, None
        elif category == "revoked":
            status = "已撤销"
            remarks = self.pick(("经行政复议，该决定已被撤销（%s复决〔%d〕%d号）" % (abbr, year, 1 + i % 97),
                                 "经法制审核发现适用法律错误，予以撤销，重新作出决定",
                                 "法院判决确认违法"))
        elif category == "confidential":
            not_public, reason = True, self.pick(NOT_PUBLIC_REASONS)
        if remarks is None and self.r() < 0.05:
            remarks = "当事人已于%d月%d日履行完毕。" % (day.month, day.day)
            if self.r() < 0.3:
                remarks += "联系电话%s。" % party[8]
                self.count("phone_inside_remarks")

        decision_id = "SJZSJ-%d-%07d" % (year, i)
        case_name = CASE_NAMES.get(kind, "%s%s相关事项") % (party[2], cause or "")
        opened = day - datetime.timedelta(days=int(self.r() * 90))
        case_created = self.stamp(opened, 8, 0)
        case = (i, "%s立〔%d〕%06d号" % (abbr, opened.year, i), case_name, case_status, handler,
                party[0], cause, self.pick(self.officers),
                opened, case_created, case_created)
        updated = self.stamp(day, 9, 2 if category != "revoked" else 6)
        row = (i, decision_id, i, aid, self.kind_code(kind), doc, decided, cats, fine, confiscated,
               licence, facts, content, basis, valid_from, valid_until, until, status, not_public,
               reason, remarks, False, self.pick(("zhangw", "lim", "admin", "wangxf")),
               case_created, updated)
        self.count("kind " + kind)
        self.count("party " + ptype)
        self.count("approval " + status)
        return new_party, case, row, decision_id


PARTY_COLS = ("id, party_kind, party_name, credit_code, legal_rep, id_type, id_no, address, phone, "
              "bank_account, created_at, updated_at")
CASE_COLS = ("id, case_no, case_name, case_status, handling_unit, party_id, cause, officer_names, "
             "opened_on, created_at, updated_at")
DECISION_COLS = ("id, decision_no, case_id, authority_id, kind_code, doc_no, decided_on, "
                 "penalty_categories, fine_amount, confiscated_amount, license_action, facts, "
                 "content, legal_basis, valid_from, valid_until, publicity_until, approval_status, "
                 "not_public, not_public_reason, remarks, is_deleted, created_by, created_at, "
                 "updated_at")


def copy_value(v):
    if v is None:
        return "\\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    if v.__class__ is str:
        # translate() is slow on non-ASCII text; most values need nothing.
        if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
            return v.translate(COPY_ESCAPE)
        return v
    return str(v)


def copy_line(row):
    return "\t".join(map(copy_value, row)) + "\n"


def flush(out, table, cols, rows):
    if rows:
        out.write("COPY %s (%s) FROM stdin;\n" % (table, cols))
        out.write("".join(copy_line(r) for r in rows))
        out.write("\\.\n")
        rows.clear()


def sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Generate case data for tests/fixtures/casedb.sql.")
    ap.add_argument("--decisions", type=int, required=True, metavar="N")
    ap.add_argument("--seed", default="1", metavar="S")
    ap.add_argument("--today", type=datetime.date.fromisoformat, metavar="YYYY-MM-DD",
                    default=datetime.datetime.now(CST).date(),
                    help="no decision is dated after this day (default: today, CST)")
    ap.add_argument("--start-date", type=datetime.date.fromisoformat, metavar="YYYY-MM-DD",
                    help="first possible decision date (default: --today minus --days + 1)")
    ap.add_argument("--days", type=int, default=28, metavar="K",
                    help="decision dates spread over K days (default 28)")
    ap.add_argument("-o", "--output", default="-", help="SQL file (default stdout)")
    ap.add_argument("--manifest", metavar="FILE", help="write decision ids per category as JSON")
    a = ap.parse_args(argv)
    if a.decisions < 0 or a.days < 1:
        ap.error("--decisions must be >= 0 and --days >= 1")
    if a.start_date is None:
        a.start_date = a.today - datetime.timedelta(days=a.days - 1)
    if a.start_date > a.today:
        ap.error("--start-date is after --today")
    return a


CHUNK = 10000      # decisions per independently seeded chunk


def gen_chunk(job):
    """SQL text, ids per category, stats and party count of one chunk.

    Each chunk has its own generator seeded from (seed, chunk number), so
    the output does not depend on how many processes made it.  Party ids
    and document numbers are offset by the chunk number to stay unique."""
    seed, today, first_day, ndays, chunk, first_i, n, tmpdir = job
    g = Gen("%s/%d" % (seed, chunk), today, first_day, ndays)
    g.next_party = chunk * CHUNK + 1
    g.doc_base = chunk * CHUNK
    ids = {c: [] for c in CATEGORIES}
    cats = g.rng.choices(CATEGORIES, weights=[w for _, w in CATEGORY_MIX], k=n)
    days = g.rng.choices(g.days, weights=g.day_weights, k=n)
    parties, cases, decisions = [], [], []
    for k in range(n):
        p, c, d, did = g.decision(first_i + k, cats[k], days[k])
        if p:
            parties.append(p)
        cases.append(c)
        decisions.append(d)
        ids[cats[k]].append(did)
    g.stats["parties"] = len(parties)
    # The chunk goes to a file of its own: passing ~10 MB of text back
    # through a pipe costs more than writing it.
    fd, path = tempfile.mkstemp(prefix="gen_casedb-", suffix=".sql", dir=tmpdir)
    with open(fd, "w", encoding="utf-8") as out:
        flush(out, "cms.party", PARTY_COLS, parties)
        flush(out, "cms.case_file", CASE_COLS, cases)
        flush(out, "cms.decision", DECISION_COLS, decisions)
    return path, ids, g.stats


def chunks(a, tmpdir):
    for chunk, first in enumerate(range(1, a.decisions + 1, CHUNK)):
        yield (a.seed, a.today, a.start_date, (a.today - a.start_date).days + 1, chunk, first,
               min(CHUNK, a.decisions + 1 - first), tmpdir)


def append_file(out, path):
    """Copy path to out (in the kernel when it can) and remove it."""
    out.flush()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        try:
            sent = 0
            while sent < size:
                n = os.sendfile(out.fileno(), f.fileno(), sent, size - sent)
                if n == 0:
                    break
                sent += n
        except OSError:
            sent = -1
        if sent != size:
            f.seek(max(sent, 0))
            shutil.copyfileobj(f, out, 1 << 20)
    os.unlink(path)


def main(argv=None):
    a = parse_args(argv)
    t0 = time.monotonic()
    ids = {c: [] for c in CATEGORIES}
    stats = {}
    # Chunks arrive as UTF-8 bytes: no decoding and re-encoding of ~1 kB
    # per decision in this process.
    out = sys.stdout.buffer if a.output == "-" else open(a.output, "wb")
    head = ["-- generated by tools/gen_casedb.py --decisions %d --seed %s --today %s "
            "--start-date %s\n" % (a.decisions, a.seed, a.today, a.start_date),
            "SET client_encoding = 'UTF8';\nBEGIN;\n"]
    for u in Gen(a.seed, a.today, a.start_date, 1).unit_rows:
        head.append("INSERT INTO cms.org_unit (id, parent_id, unit_name, credit_code, is_authority, "
                    "region_code) VALUES (%s) ON CONFLICT (id) DO NOTHING;\n"
                    % ", ".join(sql_literal(v) for v in u))
    out.write("".join(head).encode("utf-8"))
    tmpdir = tempfile.mkdtemp(prefix="gen_casedb-",
                              dir=None if a.output == "-" else os.path.dirname(os.path.abspath(a.output)))
    jobs = list(chunks(a, tmpdir))
    workers = min(len(jobs), os.cpu_count() or 1, 4)
    pool = multiprocessing.Pool(workers) if workers > 1 else None
    try:
        for path, chunk_ids, chunk_stats in (pool.imap(gen_chunk, jobs) if pool
                                             else map(gen_chunk, jobs)):
            append_file(out, path)
            for c in CATEGORIES:
                ids[c].extend(chunk_ids[c])
            for k, v in chunk_stats.items():
                stats[k] = stats.get(k, 0) + v
    finally:
        if pool:
            pool.terminate()
            pool.join()
        shutil.rmtree(tmpdir, ignore_errors=True)
    out.write(b"COMMIT;\nANALYZE cms.party;\nANALYZE cms.case_file;\nANALYZE cms.decision;\n")
    if out is not sys.stdout.buffer:
        out.close()
    else:
        out.flush()

    if a.manifest:
        with open(a.manifest, "w", encoding="utf-8") as f:
            json.dump({"decisions": a.decisions, "seed": a.seed, "today": a.today.isoformat(),
                       "start_date": a.start_date.isoformat(),
                       "counts": {c: len(ids[c]) for c in CATEGORIES}, "categories": ids}, f)
    err = sys.stderr
    err.write("gen_casedb: %d decisions, dates %s..%s, %.1fs\n" % (
        a.decisions, a.start_date, a.today, time.monotonic() - t0))
    for c in CATEGORIES:
        err.write("  %-24s %8d\n" % (c, len(ids[c])))
    for k in sorted(stats):
        err.write("  %-38s %8d\n" % (k, stats[k]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
