"""Believable demo members for `seed_demo`: names, e-mails, languages, time zones, join dates, tags.

Members are bulk-created here rather than through `member_create` (one audit row and one welcome notification
per member would make a few hundred demo members slow); `seed_demo` writes one audit record for the whole run.
Every member gets a persona that the other apps' demo modules use to decide how active the member is.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from faker import Faker
from faker.providers.person.zh_CN import Provider as ChinesePersonProvider

from members.models import Member, Tag, User

DEMO_PASSWORD = "hearth-demo"  # noqa: S105 - documented and printed: demo accounts only
DEMO_EMAIL_DOMAIN = "example.com"

# Personas: how engaged a member is. Roughly a quarter (core + regular) produce most of the activity.
CORE = "core"
REGULAR = "regular"
OCCASIONAL = "occasional"
LAPSED = "lapsed"  # active for a while after joining, quiet for the last weeks
LURKER = "lurker"  # signed up, barely came back
PERSONA_WEIGHTS = {CORE: 0.08, REGULAR: 0.17, OCCASIONAL: 0.40, LAPSED: 0.20, LURKER: 0.15}
LAPSED_MIN_TENURE_DAYS = 35  # anyone newer cannot have gone quiet yet

SEED_USERS = "种子用户"
BETA_TESTERS = "beta tester"
POWER_USERS = "power user"
KOL = "KOL"
TAGS = {
    SEED_USERS: "Seed users: the first wave, recruited by hand.",
    BETA_TESTERS: "Gets beta builds and reports on them.",
    POWER_USERS: "Uses the product daily and in depth.",
    KOL: "Key opinion leader with an audience of their own.",
}
# Chance of each tag per persona.
TAG_ODDS = {
    BETA_TESTERS: {CORE: 0.5, REGULAR: 0.25, OCCASIONAL: 0.08, LAPSED: 0.1, LURKER: 0.02},
    POWER_USERS: {CORE: 0.7, REGULAR: 0.12},
    KOL: {CORE: 0.2, REGULAR: 0.05, OCCASIONAL: 0.01},
}
SEED_USER_ODDS = {CORE: 0.8, REGULAR: 0.6, OCCASIONAL: 0.3, LAPSED: 0.5, LURKER: 0.1}

CHINESE_NAME_SHARE = 0.6
ZH_TIME_ZONES = {"Asia/Shanghai": 0.9, "Asia/Singapore": 0.04, "America/Los_Angeles": 0.03, "Europe/London": 0.03}
EN_TIME_ZONES = {
    "Asia/Shanghai": 0.4,
    "America/New_York": 0.15,
    "America/Los_Angeles": 0.15,
    "Europe/London": 0.12,
    "Europe/Berlin": 0.1,
    "Asia/Singapore": 0.08,
}
# Relative likelihood of each local hour for something a member does (quiet nights, lunch and evening peaks).
HOUR_WEIGHTS = (
    *(0.6, 0.3, 0.15, 0.1, 0.1, 0.2),  # 00-05
    *(0.6, 1.5, 2.5, 2.5, 2.0, 2.0),  # 06-11
    *(3.0, 2.5, 2.0, 2.0, 2.0, 2.0),  # 12-17
    *(2.5, 3.5, 4.0, 4.0, 3.0, 1.5),  # 18-23
)

ZH_BIOS = (
    "产品经理，每天都在用。",  # noqa: RUF001 - Chinese punctuation
    "做设计的，喜欢提建议。",  # noqa: RUF001 - Chinese punctuation
    "后端工程师，关注性能和稳定性。",  # noqa: RUF001 - Chinese punctuation
    "老用户了，从第一个版本开始用。",  # noqa: RUF001 - Chinese punctuation
    "在读研究生，课余时间参加社区活动。",  # noqa: RUF001 - Chinese punctuation
    "运营从业者，想和大家多交流。",  # noqa: RUF001 - Chinese punctuation
)
EN_BIOS = (
    "Product manager; I use it every day.",
    "Designer. Happy to give feedback on anything visual.",
    "Backend engineer who cares about speed and reliability.",
    "Been here since the first release.",
    "Grad student, joining community events when I can.",
    "Community manager at a start-up.",
)

# Pinyin for the common surnames and given-name characters, so a Chinese name's e-mail matches the name.
_PINYIN = dict(
    re.findall(
        r"(\S)([a-z]+)",
        """
        王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 吴wu 赵zhao 周zhou 徐xu 孙sun 马ma 朱zhu 胡hu 林lin 郭guo
        何he 高gao 罗luo 郑zheng 梁liang 谢xie 宋song 唐tang 许xu 邓deng 冯feng 韩han 曹cao 曾zeng 彭peng 萧xiao
        蔡cai 潘pan 田tian 董dong 袁yuan 于yu 余yu 叶ye 蒋jiang 杜du 苏su 魏wei 程cheng 吕lv 丁ding 沈shen 任ren
        姚yao 卢lu 傅fu 钟zhong 姜jiang 崔cui 谭tan 廖liao 范fan 汪wang 陆lu 金jin 石shi 戴dai 贾jia 韦wei 夏xia
        邱qiu 方fang 侯hou 邹zou 熊xiong 孟meng 秦qin 白bai 江jiang 阎yan 薛xue 尹yin 段duan 雷lei 黎li 史shi 龙long
        陶tao 贺he 顾gu 毛mao 郝hao 龚gong 邵shao 万wan 钱qian 严yan 赖lai 覃qin 洪hong 武wu 莫mo 孔kong
        伟wei 强qiang 磊lei 洋yang 勇yong 军jun 杰jie 涛tao 超chao 明ming 刚gang 平ping 辉hui 鹏peng 华hua 飞fei
        鑫xin 波bo 斌bin 宇yu 浩hao 凯kai 健jian 俊jun 帆fan 帅shuai 旭xu 宁ning 欢huan 佳jia 阳yang 建jian
        亮liang 成cheng 峰feng 国guo 晨chen 瑞rui 志zhi 兵bing 东dong 博bo 彬bin 坤kun 想xiang 岩yan 文wen 利li
        楠nan 红hong 霞xia 芳fang 娜na 敏min 静jing 秀xiu 英ying 丽li 艳yan 娟juan 兰lan 燕yan 玲ling 桂gui 丹dan
        萍ping 玉yu 梅mei 莉li 珍zhen 婷ting 凤feng 晶jing 颖ying 雪xue 慧hui 倩qian 琴qin 畅chang 云yun 洁jie
        柳liu 淑shu 春chun 海hai 冬dong 荣rong 莹ying 琳lin 欣xin 香xiang 芝zhi 小xiao 瑜yu 花hua 璐lu
        """,
    )
)


def _romanizable(names: list[str] | tuple[str, ...]) -> list[str]:
    return [name for name in names if all(char in _PINYIN for char in name)]


# Faker's own name lists and surname frequencies, narrowed to what the table above can spell.
_ZH_SURNAMES = OrderedDict(
    (name, weight) for name, weight in ChinesePersonProvider.last_names.items() if name in _PINYIN
)
_ZH_GIVEN_MALE = _romanizable(ChinesePersonProvider.first_names_male)
_ZH_GIVEN_FEMALE = _romanizable(ChinesePersonProvider.first_names_female)


@dataclass(frozen=True)
class DemoMember:
    member: Member
    persona: str


@dataclass(frozen=True)
class _Person:
    display_name: str
    email_stem: str
    locale: str
    time_zone: str
    bio: str


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _ascii(text: str) -> str:
    return re.sub(r"[^a-z]", "", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())


def _chinese_person(rng: random.Random, fake: Faker) -> _Person:
    surname = fake.random_element(_ZH_SURNAMES)
    given = fake.random_element(_ZH_GIVEN_FEMALE if rng.random() < 0.5 else _ZH_GIVEN_MALE)
    family, first = _PINYIN[surname], "".join(_PINYIN[char] for char in given)
    stem = rng.choice((f"{family}{first}", f"{family}.{first}", f"{first}.{family}", f"{first}{family}"))
    english = rng.random() < 0.1
    return _Person(
        display_name=f"{surname}{given}",
        email_stem=stem,
        locale="en" if english else "zh-hans",
        time_zone=_weighted(rng, ZH_TIME_ZONES),
        bio=rng.choice(EN_BIOS if english else ZH_BIOS) if rng.random() < 0.35 else "",
    )


def _english_person(rng: random.Random, fake: Faker) -> _Person:
    first, last = fake.first_name(), fake.last_name()
    first_slug, last_slug = _ascii(first) or "member", _ascii(last) or "member"
    stem = rng.choice((f"{first_slug}.{last_slug}", f"{first_slug}{last_slug}", f"{first_slug[0]}{last_slug}"))
    chinese = rng.random() < 0.08
    return _Person(
        display_name=f"{first} {last[0]}." if rng.random() < 0.2 else f"{first} {last}",
        email_stem=stem,
        locale="zh-hans" if chinese else "en",
        time_zone=_weighted(rng, EN_TIME_ZONES),
        bio=rng.choice(ZH_BIOS if chinese else EN_BIOS) if rng.random() < 0.35 else "",
    )


def local_moment(rng: random.Random, *, day: date, time_zone: str) -> datetime:
    """A plausible moment on `day` (a date in `time_zone`) for a member to do something."""
    hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=ZoneInfo(time_zone))
    return local.astimezone(ZoneInfo("UTC"))


def _join_days_ago(rng: random.Random, join_days: int) -> int:
    # Truncated exponential: the program grows, so each week brings more new members than the one before.
    scale = join_days / 2
    return int(-scale * math.log(1 - rng.random() * (1 - math.exp(-join_days / scale))))


def _join_moment(rng: random.Random, *, now: datetime, join_days: int, time_zone: str) -> datetime:
    today = now.astimezone(ZoneInfo(time_zone)).date()
    moment = local_moment(rng, day=today - timedelta(days=_join_days_ago(rng, join_days)), time_zone=time_zone)
    return moment - timedelta(days=1) if moment > now else moment


def _persona(rng: random.Random, *, joined_at: datetime, now: datetime) -> str:
    persona = _weighted(rng, PERSONA_WEIGHTS)
    if persona == LAPSED and now - joined_at < timedelta(days=LAPSED_MIN_TENURE_DAYS):
        return OCCASIONAL
    return persona


def _tags_for(rng: random.Random, *, persona: str, early: bool) -> list[str]:
    names = [name for name, odds in TAG_ODDS.items() if rng.random() < odds.get(persona, 0.0)]
    if early and rng.random() < SEED_USER_ODDS[persona]:
        names.insert(0, SEED_USERS)
    return names


def members_seed(*, count: int, seed: int, now: datetime, join_days: int) -> list[DemoMember]:
    """Create `count` members (accounts, verified e-mails, profiles, tags) who joined over the last `join_days`.

    The same seed gives the same people. Returns them oldest first, each with a persona.
    """
    rng = random.Random(f"{seed}:members")
    fake_zh, fake_en = Faker("zh_CN"), Faker("en_US")
    fake_zh.seed_instance(seed)
    fake_en.seed_instance(seed)

    people = [
        _chinese_person(rng, fake_zh) if rng.random() < CHINESE_NAME_SHARE else _english_person(rng, fake_en)
        for _ in range(count)
    ]
    joined = sorted(
        ((_join_moment(rng, now=now, join_days=join_days, time_zone=person.time_zone), person) for person in people),
        key=lambda pair: pair[0],
    )

    # A re-run on a database that already has demo members numbers the new addresses past the taken ones.
    taken = set(User.objects.filter(email__iendswith=f"@{DEMO_EMAIL_DOMAIN}").values_list("email", flat=True))
    password = make_password(DEMO_PASSWORD)  # hashing is deliberately slow: once for everyone
    users = []
    for number, (joined_at, person) in enumerate(joined, start=1):
        email = f"{person.email_stem}{number}@{DEMO_EMAIL_DOMAIN}"
        while email in taken:
            number += count
            email = f"{person.email_stem}{number}@{DEMO_EMAIL_DOMAIN}"
        taken.add(email)
        users.append(User(email=email, password=password, date_joined=joined_at))
    User.objects.bulk_create(users)
    EmailAddress.objects.bulk_create(
        EmailAddress(user=user, email=user.email, verified=True, primary=True) for user in users
    )

    members = [
        Member(
            user=user,
            display_name=person.display_name,
            bio=person.bio,
            locale=person.locale,
            time_zone=person.time_zone,
            joined_at=joined_at,
        )
        for user, (joined_at, person) in zip(users, joined, strict=True)
    ]
    Member.objects.bulk_create(members)

    tags = {
        name: Tag.objects.get_or_create(name=name, defaults={"description": text})[0] for name, text in TAGS.items()
    }
    early_cutoff = now - timedelta(days=join_days * 2 / 3)
    demo_members, links = [], []
    for member in members:
        persona = _persona(rng, joined_at=member.joined_at, now=now)
        demo_members.append(DemoMember(member=member, persona=persona))
        for name in _tags_for(rng, persona=persona, early=member.joined_at < early_cutoff):
            links.append(Member.tags.through(member_id=member.pk, tag_id=tags[name].pk))
    Member.tags.through.objects.bulk_create(links)
    return demo_members
