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


# --- recruitment: rounds, questionnaires, applications with usage data, decisions ------------------------------

AGE_BANDS = ("18-24", "25-34", "25-34", "35-44", "45-54")
OCCUPATIONS = (
    "Product manager",
    "Designer",
    "Engineer",
    "Student",
    "Marketer",
    "Teacher",
    "产品经理",
    "工程师",
    "学生",
)
INTERESTS = ("automation", "design", "data", "mobile", "privacy", "integrations", "效率", "协作")
NEEDS = (
    "Wants faster sync between devices.",
    "Needs an offline mode for travel.",
    "希望有更好的团队协作功能。",
    "Struggles with the import from spreadsheets.",
    "",
)
PERSONA_USAGE = {  # (active days of 30, session minutes, tenure days, content created) ranges per persona
    CORE: ((20, 30), (25, 60), (200, 700), (10, 40)),
    REGULAR: ((10, 22), (10, 35), (90, 400), (3, 15)),
    OCCASIONAL: ((2, 10), (3, 15), (30, 300), (0, 4)),
    LAPSED: ((0, 5), (2, 10), (60, 400), (0, 3)),
    LURKER: ((0, 3), (1, 5), (5, 120), (0, 1)),
}


def _decision_templates() -> int:
    from members.models import DecisionTemplate

    texts = {
        ("accepted", "en"): (
            "Welcome aboard, {{ name }}!",
            "Hi {{ name }}, you are in: welcome to {{ round }}. Your portal is ready — say hello in the community "
            "and join the next roadmap preview.",
        ),
        ("accepted", "zh-hans"): (
            "欢迎加入核心用户计划，{{ name }}！",  # noqa: RUF001 - Chinese punctuation
            "{{ name }}，你好！恭喜你入选{{ round }}。"  # noqa: RUF001 - Chinese punctuation
            "你的专属门户已经开通，欢迎来社群打个招呼，并参加下一次路线图分享会。",  # noqa: RUF001
        ),
        ("waitlisted", "en"): (
            "You are on the waitlist for {{ round }}",
            "Hi {{ name }}, thank you for applying. All places are taken for now; we will write as soon as one "
            "frees up.",
        ),
        ("waitlisted", "zh-hans"): (
            "你已进入{{ round }}的候补名单",
            "{{ name }}，你好！感谢你的申请。目前名额已满，一旦有空缺我们会第一时间通知你。",  # noqa: RUF001
        ),
        ("rejected", "en"): (
            "About your application to {{ round }}",
            "Hi {{ name }}, thank you for applying to {{ round }}. This time we could not offer you a place "
            "({{ reason }}). We hope to hear from you in a future round.",
        ),
        ("rejected", "zh-hans"): (
            "关于你申请{{ round }}的结果",
            "{{ name }}，你好！感谢你申请{{ round }}。"  # noqa: RUF001 - Chinese punctuation
            "很遗憾这次未能入选（{{ reason }}）。期待在之后的招募批次再见到你。",  # noqa: RUF001
        ),
    }
    created = 0
    for (kind, language), (subject, body) in texts.items():
        _template, was_created = DecisionTemplate.objects.get_or_create(
            kind=kind, language=language, defaults={"subject": subject, "body": body}
        )
        created += was_created
    return created


def _questionnaire(round, questions: list[tuple]) -> list:
    from members.models import Choice, NumberRange, Question

    made = []
    for position, (kind, text, options) in enumerate(questions, start=1):
        question = Question.objects.create(
            round=round,
            kind=kind,
            text=text,
            position=position,
            required=kind not in ("long_text", "multiple"),
            weight=options.get("weight", 1),
            scale_max=options.get("scale_max", 5),
            points_if_answered=options.get("per_step", 0),
        )
        for index, (label, points, knockout, segment) in enumerate(options.get("choices", ())):
            Choice.objects.create(
                question=question, position=index, label=label, points=points, knockout=knockout, segment=segment
            )
        for minimum, maximum, points, knockout in options.get("ranges", ()):
            NumberRange.objects.create(
                question=question, minimum=minimum, maximum=maximum, points=points, knockout=knockout
            )
        made.append(question)
    return made


def _answers_for(rng: random.Random, questions: list, keen: float) -> list[dict]:
    rows = []
    for question in questions:
        choices = list(question.choices.all())
        entry = {"question": question, "choice_ids": [], "number": None, "text": ""}
        if question.kind == "single":
            weights = [max(0.05, float(c.points) * keen + 1) * (0.03 if c.knockout else 1) for c in choices]
            entry["choice_ids"] = [rng.choices(choices, weights=weights)[0].pk]
        elif question.kind == "multiple":
            entry["choice_ids"] = sorted(c.pk for c in choices if rng.random() < 0.3 + 0.4 * keen)
        elif question.kind == "number":
            entry["number"] = round(rng.uniform(0, 20) * (0.3 + keen), 1)
        elif question.kind == "scale":
            entry["number"] = min(question.scale_max, max(1, round(rng.gauss(2 + keen * 3, 1))))
        elif rng.random() < 0.3 + 0.6 * keen:
            entry["text"] = rng.choice(EN_BIOS)
        if entry["choice_ids"] or entry["number"] is not None or entry["text"]:
            rows.append(entry)
    return rows


KEENNESS = {CORE: 0.95, REGULAR: 0.7, OCCASIONAL: 0.4, LAPSED: 0.3, LURKER: 0.1}


def _applications(
    rng: random.Random, *, target_round, questions: list, demo: list[tuple[Member, str]], start, end
) -> list:
    from members.models import Answer, Application, UsageMetric

    span = max((end - start).total_seconds(), 60)
    applications = [
        Application(
            round=target_round,
            member=member,
            language=member.locale,
            submitted_at=start + timedelta(seconds=rng.uniform(0, span)),
            source=Application.Source.API if rng.random() < 0.15 else Application.Source.PORTAL,
        )
        for member, _persona in demo
    ]
    Application.objects.bulk_create(applications)
    answers, metrics = [], []
    for application, (_member, persona) in zip(applications, demo, strict=True):
        keen = KEENNESS[persona]
        for row in _answers_for(rng, questions, keen):
            answers.append(
                Answer(
                    application=application,
                    question=row["question"],
                    choice_ids=row["choice_ids"],
                    number=row["number"],
                    text=row["text"],
                )
            )
            if row["choice_ids"] and not application.segment:
                for choice in row["question"].choices.all():
                    if choice.pk in row["choice_ids"] and choice.segment:
                        application.segment = choice.segment
        if rng.random() < 0.85:  # some candidates are unknown to the product's analytics
            days, minutes, tenure, content = PERSONA_USAGE[persona]
            metrics.append(
                UsageMetric(
                    application=application,
                    active_days_30=rng.randint(*days),
                    session_minutes=round(rng.uniform(*minutes), 1),
                    tenure_days=rng.randint(*tenure),
                    paid=rng.random() < {CORE: 0.6, REGULAR: 0.4}.get(persona, 0.15),
                    willing_to_pay=rng.random() < 0.4,
                    content_created=rng.randint(*content),
                )
            )
    Answer.objects.bulk_create(answers, batch_size=2000)
    UsageMetric.objects.bulk_create(metrics, batch_size=2000)
    Application.objects.bulk_update([a for a in applications if a.segment], ["segment"], batch_size=1000)
    return applications


def _personas(rng: random.Random, members: list[Member]) -> None:
    for member in members:
        if rng.random() < 0.7:
            member.age_band = rng.choice(AGE_BANDS)
            member.occupation = rng.choice(OCCUPATIONS)
            member.interests = ", ".join(rng.sample(INTERESTS, rng.randint(1, 3)))
            member.needs = rng.choice(NEEDS)
    Member.objects.bulk_update(members, ["age_band", "occupation", "interests", "needs"], batch_size=1000)


def seed(*, rng: random.Random, members: list[Member]) -> str:
    """Two recruitment rounds: a closed seed-user round (decided, most places taken) and an open beta round with
    a scored queue (usage data imported, a few decisions and interviews). Returns a one-line summary."""
    from django.utils import timezone

    from community.errors import ServiceError
    from members.models import Application, Round, RoundQuota
    from members.services import decisions, scoring, segmentation

    now = timezone.now()
    _decision_templates()
    segmentation.segmentation_settings()
    _personas(rng, members)
    personas = _persona_guess(members)

    seed_round = Round.objects.create(
        name="种子用户招募 · 第一期",
        slug=_unique_slug("seed-users-1"),
        description="第一批核心用户：和产品团队一起打磨产品。",  # noqa: RUF001 - Chinese punctuation
        opens_at=now - timedelta(days=120),
        closes_at=now - timedelta(days=90),
        capacity=max(1, len(members) // 5),
    )
    seed_questions = _questionnaire(
        seed_round,
        [
            (
                "single",
                "你平时多久使用一次我们的产品？",  # noqa: RUF001 - Chinese punctuation
                {"choices": [("每天", 10, False, ""), ("每周几次", 6, False, ""), ("很少", 1, False, "")]},
            ),
            ("scale", "你有多愿意给我们提建议？", {"scale_max": 5, "per_step": 2}),  # noqa: RUF001
            ("long_text", "你最希望我们改进什么？", {"per_step": 3}),  # noqa: RUF001
        ],
    )
    beta_round = Round.objects.create(
        name="Beta testers — winter",
        slug=_unique_slug("beta-testers-winter"),
        description="Try new features a month early and talk with the product team every fortnight.",
        opens_at=now - timedelta(days=10),
        closes_at=now + timedelta(days=20),
        capacity=max(1, len(members) // 10),
        usage_points=40,
    )
    RoundQuota.objects.create(round=beta_round, segment="students", places=max(1, len(members) // 60))
    beta_questions = _questionnaire(
        beta_round,
        [
            (
                "single",
                "What describes you best?",
                {
                    "choices": [
                        ("Developer", 10, False, "developers"),
                        ("Designer", 8, False, "designers"),
                        ("Student", 5, False, "students"),
                        ("I work for a competing product", 0, True, ""),
                    ]
                },
            ),
            (
                "multiple",
                "Which platforms do you use?",
                {"choices": [("Web", 2, False, ""), ("iOS", 3, False, ""), ("Android", 3, False, "")]},
            ),
            (
                "number",
                "How many hours a week do you spend in the product?",
                {
                    "weight": 2,
                    "ranges": [(None, 1, 0, True), (1, 5, 2, False), (5, 15, 4, False), (15, None, 6, False)],
                },
            ),
            ("scale", "How comfortable are you with unfinished features?", {"scale_max": 10, "per_step": 1}),
            ("short_text", "Which feature would you test first?", {"per_step": 2}),
            ("long_text", "Tell us about a time the product let you down.", {"per_step": 4}),
        ],
    )

    ordered = sorted(members, key=lambda m: m.joined_at)
    early = [(m, personas[m.pk]) for m in ordered[: len(ordered) * 2 // 5]]
    later = [(m, personas[m.pk]) for m in ordered[len(ordered) * 2 // 5 :] if rng.random() < 0.55]
    _applications(
        rng,
        target_round=seed_round,
        questions=seed_questions,
        demo=early,
        start=seed_round.opens_at,
        end=seed_round.closes_at,
    )
    _applications(
        rng, target_round=beta_round, questions=beta_questions, demo=later, start=beta_round.opens_at, end=now
    )
    for scored_round in (seed_round, beta_round):
        scoring.round_score(round_id=scored_round.pk)

    # The seed round was decided long ago: best scores accepted up to capacity, the next ones waitlisted.
    queue = list(
        Application.objects.filter(round=seed_round)
        .order_by("-scorecard__total", "id")
        .values_list("pk", "scorecard__knocked_out")
    )
    accept_ids = [pk for pk, knocked in queue if not knocked][: seed_round.capacity]
    rest = [pk for pk, _knocked in queue if pk not in set(accept_ids)]
    decided_at = seed_round.closes_at + timedelta(days=3)
    Application.objects.filter(pk__in=accept_ids).update(
        status=Application.Status.ACCEPTED, stage=Application.Stage.ACCEPTED, decided_at=decided_at
    )
    Application.objects.filter(pk__in=rest[: len(rest) // 3]).update(
        status=Application.Status.WAITLISTED, decided_at=decided_at
    )
    Application.objects.filter(pk__in=rest[len(rest) // 3 :]).update(
        status=Application.Status.REJECTED, decision_reason=Application.Reason.CAPACITY, decided_at=decided_at
    )

    # The beta round is being reviewed: a few decisions and interviews through the services (audited, notified).
    beta_queue = list(
        Application.objects.filter(round=beta_round, scorecard__knocked_out=False)
        .order_by("-scorecard__total", "id")
        .values_list("pk", flat=True)
    )
    decided = 0
    for pk in beta_queue[: max(1, beta_round.capacity // 2)]:
        try:
            decisions.application_decide(application=Application(pk=pk), status=Application.Status.ACCEPTED, actor=None)
            decided += 1
        except ServiceError:  # a quota may be full; the demo just moves on
            continue
    for pk in beta_queue[beta_round.capacity : beta_round.capacity + 3]:
        decisions.interview_schedule(
            application=Application(pk=pk),
            scheduled_at=now + timedelta(days=rng.randint(1, 6), hours=rng.randint(1, 8)),
            location="https://meet.example.com/beta",
            actor=None,
        )
    knocked = list(
        Application.objects.filter(round=beta_round, scorecard__knocked_out=True).values_list("pk", flat=True)[:5]
    )
    for pk in knocked:
        decisions.application_decide(
            application=Application(pk=pk), status=Application.Status.REJECTED, reason="knocked_out", actor=None
        )
    total = Application.objects.filter(round__in=[seed_round, beta_round]).count()
    return (
        f"recruitment: 2 rounds, {total} applications with usage data, {len(accept_ids)} seed users accepted, "
        f"{decided} beta testers accepted, {len(knocked)} rejected"
    )


def _unique_slug(base: str) -> str:
    from members.models import Round

    slug, number = base, 1
    while Round.objects.filter(slug=slug).exists():  # a second demo run on the same database
        number += 1
        slug = f"{base}-{number}"
    return slug


def _persona_guess(members: list[Member]) -> dict[int, str]:
    """The persona behind each demo member, read back from the activity stream (seed_demo records it first)."""
    from django.db.models import Count

    from community.models import Activity

    counts = dict(
        Activity.objects.filter(member__in=members)
        .values("member_id")
        .annotate(n=Count("id"))
        .values_list("member_id", "n")
    )
    guess = {}
    for member in members:
        n = counts.get(member.pk, 0)
        guess[member.pk] = (
            CORE if n > 120 else REGULAR if n > 50 else OCCASIONAL if n > 10 else LAPSED if n > 3 else LURKER
        )
    return guess
