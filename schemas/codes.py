"""Subject codes: check digits, what the codes tell us, masking, and test generators.

Every check returns a list of `Violation` (empty = valid) instead of raising, so the stream,
the HTTP gateway and the file uploader report the same reason codes. Checks take the code as
the provider should have written it: callers run `normalize_code` first, so a lower-case or
full-width code is fixed once, visibly, and never silently accepted here.

Messages may name a legal person's code but never a person's: ID numbers are masked, and any
value echoed back goes through `mask_value` in case a personal ID sits in the wrong column.
"""

from __future__ import annotations

import functools
import random
import re
from datetime import date
from operator import mul

from schemas.violations import Violation

# GB 32100-2015: 31 symbols, no I O S V Z; weights are 3**i mod 31.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997: organization code body weights; letters count A=10 … Z=35.
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11643-1999: citizen ID weights (2**(17-i) mod 11) and check characters by remainder.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
ID_MIN_BIRTH_YEAR = 1900
# Verdicts kept per code string: the stream checks a record's subject code twice (rules, then
# identity) and subjects recur month after month. At most ≈2.5 MB per cache (measured,
# keys included); large enough that checking a batch's codes before resolving them all hits.
CODE_CACHE_SIZE = 16384

_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
_USCC_RE = re.compile(f"[{USCC_ALPHABET}]{{18}}")
_ORG_CHECK_CHARS = {10: "X", 11: "0"}
_ORG_VALUE = {ch: int(ch, 36) for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
# Σ weight × ord("0"): the ASCII bytes of 17 digits, weighted, less this, are the digits' sum.
_ID_ASCII_OFFSET = ord("0") * sum(ID_WEIGHTS)
_ORG_RE = re.compile(r"[0-9A-Z]{8}-?[0-9X]")
_ID_BODY_RE = re.compile(r"[0-9]{17}[0-9X]")
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_PREFIX_RE = re.compile(r"^(?:\+86|0086|86)")
_LANDLINE_RE = re.compile(r"0[1-9][0-9]{1,2}[2-9][0-9]{6,7}|[48]00[0-9]{7}")
_SEPARATORS_RE = re.compile(r"[\s\-()（）]")


def _v(code: str, field: str | None, zh: str, en: str) -> Violation:
    return Violation(code=code, field=field, message_zh=zh, message_en=en)


def normalize_code(s: str) -> str:
    """Strip, fold full-width characters to ASCII and upper-case.

    Spreadsheets from Chinese offices often carry full-width digits (`９１３２…`), a
    trailing space or a lower-case `x`; callers apply this once before any check.
    """
    if s.isascii():  # nothing full-width to fold: the common case, without a pass per char
        return s.strip().upper()
    return _fold_width(s).strip().upper()


# --- organization code (GB 11714) -------------------------------------------------------


def _org_value(ch: str) -> int:
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def org_check_char(body: str) -> str:
    """The GB 11714 check character for an 8-character body."""
    if len(body) != len(ORG_WEIGHTS):
        raise ValueError(
            f"an organization code check character needs 8 characters, not {len(body)}"
        )
    if all(map(_ORG_VALUE.__contains__, body)):  # 0-9 and A-Z: values by table look-up
        total = sum(map(mul, map(_ORG_VALUE.__getitem__, body), ORG_WEIGHTS))
    else:
        total = sum(_org_value(ch) * w for ch, w in zip(body, ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return _ORG_CHECK_CHARS.get(c) or str(c)


def check_org_code(code: str, *, field: str | None = None) -> list[Violation]:
    """GB 11714 organization code, also in its usual written form `12345678-9`."""
    if not _ORG_RE.fullmatch(code):
        return [
            _v(
                "org_code.format",
                field,
                "组织机构代码格式错误：应为8位数字或大写字母加1位校验码（可写作12345678-9）",
                "an organization code is 8 digits/upper-case letters plus a check character "
                "(also written 12345678-9)",
            )
        ]
    compact = code.replace("-", "")
    if org_check_char(compact[:8]) != compact[8]:
        shown = mask_value(code)
        return [
            _v(
                "org_code.check_digit",
                field,
                f"组织机构代码「{shown}」校验码错误",
                f"organization code '{shown}' has a wrong check character",
            )
        ]
    return []


# --- unified social credit code (GB 32100) ---------------------------------------------


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != len(USCC_WEIGHTS):
        raise ValueError(f"a USCC check character needs 17 characters, not {len(first17)}")
    total = sum(map(mul, map(_USCC_VALUE.__getitem__, first17), USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def check_uscc(code: str, *, field: str | None = None) -> list[Violation]:
    """GB 32100 USCC: length, alphabet, check character, and the embedded org code.

    The check character and the embedded organization code are independent duties of the
    issuer, so both are reported when both are wrong.
    """
    faults = uscc_faults(code)
    return [_uscc_violation(fault, code, field) for fault in faults] if faults else []


@functools.lru_cache(maxsize=CODE_CACHE_SIZE)
def uscc_faults(code: str) -> tuple[str, ...]:
    """The reason codes `check_uscc` reports for `code` (empty = valid), cached per code."""
    if len(code) != 18:
        return ("uscc.length",)
    if not _USCC_RE.fullmatch(code):
        return ("uscc.charset",)
    faults: tuple[str, ...] = ()
    if uscc_check_char(code[:17]) != code[17]:
        faults += ("uscc.check_digit",)
    if org_check_char(code[8:16]) != code[16]:
        faults += ("uscc.org_code",)
    return faults


def _uscc_violation(fault: str, code: str, field: str | None) -> Violation:
    """The bilingual reason for one fault of `uscc_faults`; built only for a failing code."""
    if fault == "uscc.length":
        return _v(
            fault,
            field,
            f"统一社会信用代码应为18位，实际{len(code)}位",
            f"a USCC has 18 characters, this one {len(code)}",
        )
    if fault == "uscc.charset":
        bad = sorted({ch for ch in code if ch not in _USCC_VALUE})
        return _v(
            fault,
            field,
            f"统一社会信用代码含非法字符{bad}（不使用I、O、S、V、Z及小写字母）",
            f"USCC contains characters outside the GB 32100 alphabet: {bad} "
            "(no I, O, S, V, Z or lower case)",
        )
    shown = mask_value(code)
    if fault == "uscc.check_digit":
        return _v(
            fault,
            field,
            f"统一社会信用代码「{shown}」校验码错误",
            f"USCC '{shown}' has a wrong check character",
        )
    return _v(
        fault,
        field,
        f"统一社会信用代码「{shown}」第9至17位不是有效的组织机构代码",
        f"characters 9–17 of USCC '{shown}' are not a valid organization code",
    )


def district_of_uscc(code: str) -> str:
    """Registration district (chars 3–8), or "" when the code is not USCC-shaped.

    A string either way, so it lands as-is in the non-nullable district column.
    """
    part = code[2:8]
    return part if len(code) == 18 and part.isdecimal() and part.isascii() else ""


# --- business registration number (GS15, ISO 7064 MOD 11,10) ---------------------------


def reg_no_check_digit(first14: str) -> str:
    """ISO 7064 MOD 11,10 check digit, as the 15-digit 工商注册号 uses."""
    p = 10
    for ch in first14:
        s = (p + int(ch)) % 10 or 10
        p = (2 * s) % 11
    return str((11 - p) % 10)


def check_reg_no(code: str, *, field: str | None = None) -> list[Violation]:
    """15-digit business registration number with its MOD 11,10 check digit."""
    if not (len(code) == 15 and code.isdecimal() and code.isascii()):
        return [
            _v(
                "reg_no.format",
                field,
                "工商注册号应为15位数字",
                "a business registration number is 15 digits",
            )
        ]
    shown = mask_value(code)
    if reg_no_check_digit(code[:14]) != code[14]:
        return [
            _v(
                "reg_no.check_digit",
                field,
                f"工商注册号「{shown}」校验位错误",
                f"business registration number '{shown}' has a wrong check digit",
            )
        ]
    return []


# --- citizen ID (GB 11643) ------------------------------------------------------------


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    if len(first17) != len(ID_WEIGHTS):
        raise ValueError(f"a citizen ID check character needs 17 digits, not {len(first17)}")
    if first17.isascii() and first17.isdecimal():  # weigh the ASCII bytes, no int() per digit
        total = sum(map(mul, first17.encode(), ID_WEIGHTS)) - _ID_ASCII_OFFSET
    else:
        total = sum(map(mul, map(int, first17), ID_WEIGHTS))
    return ID_CHECK_CHARS[total % 11]


def birth_date_of(id_no: str) -> date | None:
    """Birth date from chars 7–14, or None when they are not a calendar date."""
    digits = id_no[6:14]
    if len(id_no) != 18 or not (digits.isdecimal() and digits.isascii()):
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def district_of_id(id_no: str) -> str:
    """Address code in force when the ID was issued (chars 1–6), or "" if not ID-shaped.

    Never checked against a list of districts: renamed districts keep their old codes.
    """
    part = id_no[:6]
    return part if len(id_no) == 18 and part.isdecimal() and part.isascii() else ""


def check_citizen_id(
    id_no: str, today: date | None = None, *, field: str | None = None
) -> list[Violation]:
    """GB 11643 18-character citizen ID: format, birth date, check character.

    The address code is deliberately not checked (DESIGN: it is the code in force when the
    card was issued, so renamed districts still appear). `today` bounds the birth date.
    """
    faults = citizen_id_faults(id_no, today or date.today())
    return [_citizen_id_violation(fault, id_no, field) for fault in faults] if faults else []


@functools.lru_cache(maxsize=CODE_CACHE_SIZE)
def citizen_id_faults(id_no: str, today: date) -> tuple[str, ...]:
    """The reason codes `check_citizen_id` reports (empty = valid), cached per number and day."""
    if len(id_no) != 18:
        return ("id.length",)
    if not _ID_BODY_RE.fullmatch(id_no):
        return ("id.format",)
    faults: tuple[str, ...] = ()
    born = birth_date_of(id_no)
    if born is None or born > today or born.year < ID_MIN_BIRTH_YEAR:
        faults += ("id.birth_date",)
    if id_check_char(id_no[:17]) != id_no[17]:
        faults += ("id.check_digit",)
    return faults


def _citizen_id_violation(fault: str, id_no: str, field: str | None) -> Violation:
    """The bilingual reason for one fault of `citizen_id_faults`; the number is masked."""
    shown = mask_id(id_no)
    if fault == "id.length":
        return _v(
            fault,
            field,
            f"身份证号码应为18位，实际{len(id_no)}位",
            f"citizen ID must have 18 characters, not {len(id_no)}",
        )
    if fault == "id.format":
        return _v(
            fault,
            field,
            f"身份证号码「{shown}」应为17位数字加1位数字或大写X",
            f"citizen ID '{shown}' must be 17 digits plus a digit or upper-case X",
        )
    if fault == "id.birth_date":
        return _v(
            fault,
            field,
            f"身份证号码「{shown}」中的出生日期无效（须为{ID_MIN_BIRTH_YEAR}年以后、不晚于今天的真实日期）",
            f"citizen ID '{shown}' does not carry a real birth date between "
            f"{ID_MIN_BIRTH_YEAR} and today",
        )
    return _v(
        fault,
        field,
        f"身份证号码「{shown}」校验码错误",
        f"citizen ID '{shown}' has a wrong check character",
    )


# --- phone numbers ----------------------------------------------------------------------


def _national_phone(s: str) -> str:
    return _MOBILE_PREFIX_RE.sub("", _SEPARATORS_RE.sub("", s))


def is_mobile(s: str) -> bool:
    """Mainland 11-digit mobile (1[3-9]…), with or without +86 and separators."""
    return bool(_MOBILE_RE.fullmatch(_national_phone(s.strip())))


def check_phone(s: str, *, field: str | None = None) -> list[Violation]:
    """A contact number: a mainland mobile, a landline with area code, or a 400/800 line."""
    if is_mobile(s) or _LANDLINE_RE.fullmatch(_SEPARATORS_RE.sub("", s)):
        return []
    return [
        _v(
            "phone.format",
            field,
            f"电话号码「{mask_phone(s)}」格式错误：应为11位手机号或带区号的固定电话",
            f"phone '{mask_phone(s)}' is neither an 11-digit mobile nor a landline with area code",
        )
    ]


# --- masking ----------------------------------------------------------------------------


def _mask(s: str, head: int, tail: int) -> str:
    return s[:head] + "*" * (len(s) - head - tail) + s[len(s) - tail :]


def mask_id(s: str) -> str:
    """`110105********123X`: first 6 and last 4 of an ID; shorter numbers keep less.

    Below 15 characters (passports, permits) at most a quarter is kept at each end, so
    masking never shows most of a short number.
    """
    s = s.strip()
    if len(s) >= 15:
        return _mask(s, 6, 4)
    keep = len(s) // 4
    return _mask(s, keep, keep)


def mask_subject(subject_id: str, kind: str) -> str:
    """A natural person's subject id masked; `护照:E1234567` keeps its type readable."""
    if kind != "natural":
        return subject_id
    id_type, sep, number = subject_id.rpartition(":")
    return f"{id_type}{sep}{mask_id(number)}"


def mask_phone(s: str) -> str:
    """`138****5678`: first 3 and last 4 of a mobile; other numbers keep a quarter per end."""
    s = s.strip()
    if is_mobile(s):
        return _mask(_national_phone(s), 3, 4)
    keep = len(s) // 4
    return _mask(s, keep, keep)


# Matched on width-folded text so full-width digits are caught too. An ID-like token is 17
# digits plus a digit or X, or an old 15-digit ID; phones are mobiles or hyphenated landlines.
_ID_TOKEN_RE = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
_PHONE_TOKEN_RE = re.compile(
    r"(?<![0-9])(?:(?:\+86|0086)[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])"
    r"|(?<![0-9])0[1-9][0-9]{1,2}-[2-9][0-9]{6,7}(?![0-9])"
)


def _fold_width(s: str) -> str:
    """Full-width ASCII to half-width, one character for one, so offsets are kept."""
    return "".join(
        chr(ord(ch) - 0xFEE0) if "\uff01" <= ch <= "\uff5e" else " " if ch == "\u3000" else ch
        for ch in s
    )


def _readable_uscc(token: str) -> bool:
    """An all-digit USCC looks like an ID; leave it readable only when it passes the USCC
    check and could not be a person's (no birth date in chars 7–14)."""
    code = token.upper()
    return (
        len(code) == 18 and uscc_check_char(code[:17]) == code[17] and birth_date_of(code) is None
    )


def mask_value(s: str) -> str:
    """Mask every ID-like or phone-like run inside free text (log lines, messages)."""
    folded = _fold_width(s)
    spans: list[tuple[int, int, str]] = []
    for m in _ID_TOKEN_RE.finditer(folded):
        if not _readable_uscc(m.group(0)):
            spans.append((m.start(), m.end(), mask_id(s[m.start() : m.end()])))
    for m in _PHONE_TOKEN_RE.finditer(folded):
        if not any(a < m.end() and m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), mask_phone(s[m.start() : m.end()])))
    out, pos = [], 0
    for start, end, masked in sorted(spans):
        out += [s[pos:start], masked]
        pos = end
    return "".join([*out, s[pos:]])


# --- generators (tests, demo) ---------------------------------------------------------

# (registration authority, organization type) pairs seen in practice: 9x market regulation,
# 1x government bodies, 5x civil affairs, Y1 other.
_USCC_PREFIXES = ("91", "91", "91", "92", "93", "11", "12", "51", "52", "53", "Y1")
_ORG_BODY_CHARS = "0123456789" * 3 + "ABCDEFGHJKLMNPQRTUWXY"


def _district(district: str) -> str:
    if not (len(district) == 6 and district.isdecimal() and district.isascii()):
        raise ValueError(f"district must be 6 digits, not {district!r}")
    return district


def random_org_code(rng: random.Random) -> str:
    """A valid 9-character organization code (compact form) drawn from `rng`."""
    body = "".join(rng.choice(_ORG_BODY_CHARS) for _ in range(8))
    return body + org_check_char(body)


def random_uscc(rng: random.Random, district: str = "320281") -> str:
    """A valid USCC registered in `district`, with a valid embedded organization code."""
    first17 = rng.choice(_USCC_PREFIXES) + _district(district) + random_org_code(rng)
    return first17 + uscc_check_char(first17)


def random_citizen_id(
    rng: random.Random,
    district: str = "320281",
    birth_year_range: tuple[int, int] = (1950, 2004),
) -> str:
    """A valid citizen ID from `district`, born in the inclusive year range."""
    first = date(birth_year_range[0], 1, 1).toordinal()
    last = date(birth_year_range[1], 12, 31).toordinal()
    born = date.fromordinal(rng.randint(first, last))
    first17 = f"{_district(district)}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return first17 + id_check_char(first17)


def random_reg_no(rng: random.Random, district: str = "320281") -> str:
    """A valid 15-digit business registration number issued in `district`."""
    first14 = _district(district) + f"{rng.randint(0, 99_999_999):08d}"
    return first14 + reg_no_check_digit(first14)
