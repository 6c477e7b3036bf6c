"""The synthetic population: employers announcing redundancies and the people they affect.

Everything is drawn column-wise with one seeded ``numpy.random.Generator`` from the value pools of
:mod:`synthetic.pools` (names, places and streets, with their frequencies).

Rules worth knowing when reading the extracts:

* NI numbers follow HMRC's format: two prefix letters (first not D F I Q U V; second not D F I O Q U
  V; prefixes BG GB KN NK NT TN ZZ never allocated), six digits, suffix A-D. Unique per person. A
  share is unknown, a share is an old temporary reference ``TN`` + DDMMYY + M/F (which namesakes born
  the same day share) and a few carry a dummy (``AA000000A``) that many people share.
* Postcodes are valid-format unit postcodes in real Scottish postcode areas and districts; the unit
  pool is small relative to the population so neighbours and households share postcodes.
* Households (and a few twins) share surname, postcode, address and landline; twins also the DOB.
* Everyone has a ``previous_postcode``, an ``old_phone`` and (women) a ``former_surname``: the
  values a stale or pre-marriage record holds. Everyone whose forename has everyday forms has one
  ``nickname`` (Rab for Robert) used consistently when a partner records the everyday name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from synthetic.pools import Pools, weights

NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"
NINO_EXCLUDED = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
NINO_PREFIXES = np.array([a + b for a in NINO_FIRST for b in NINO_SECOND if a + b not in NINO_EXCLUDED])
NINO_PLACEHOLDERS = np.array(["AA000000A", "QQ123456C", "AB123456C"])
INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # C I K M O V never used in the inward code
EMAIL_DOMAINS = np.array(
    [
        "gmail.com",
        "hotmail.co.uk",
        "yahoo.co.uk",
        "outlook.com",
        "btinternet.com",
        "icloud.com",
        "live.co.uk",
        "sky.com",
        "aol.com",
        "hotmail.com",
    ]
)
EMAIL_DOMAIN_P = np.array([0.34, 0.17, 0.1, 0.1, 0.07, 0.07, 0.05, 0.04, 0.03, 0.03])
UC_STATUS = np.array(["UC - claim open", "UC - claim closed", "New Style JSA", "ESA", "Not claiming"])
UC_P = np.array([0.38, 0.07, 0.2, 0.05, 0.3])
OUTCOMES = np.array(
    ["", "Entered training", "Entered work", "Job sustained 13 weeks", "Job sustained 26 weeks"]
)
OUTCOME_P = np.array([0.36, 0.15, 0.29, 0.12, 0.08])
CRITERIA = np.array(["Under threat of redundancy", "In receipt of PACE services"])
EMPLOYER_SERVICES = np.array(
    [
        "PACE presentation",
        "Redundancy consultation support",
        "Jobs fair",
        "Business continuity advice",
        "Supply chain support",
        "Workforce planning",
    ]
)


# --------------------------------------------------------------------------------------------------
# Postcodes
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PostcodePool:
    codes: np.ndarray  # "EH6 7HQ", sorted by area then code
    area_idx: np.ndarray  # index into pools.areas for each code
    area_start: np.ndarray
    area_count: np.ndarray

    def pick(self, area: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random pool index inside each given area (vectorised)."""
        u = rng.random(len(area))
        return self.area_start[area] + (u * self.area_count[area]).astype(np.int64)


def make_postcode_pool(size: int, pools: Pools, rng: np.random.Generator) -> PostcodePool:
    areas = pools.areas
    n_areas = len(areas)
    area = rng.choice(n_areas, size, p=weights(areas))
    n_dist = np.array([len(d) for d in areas["districts"]])
    dist_i = (rng.random(size) * n_dist[area]).astype(np.int64)
    flat = np.array([d for ds in areas["districts"] for d in ds], dtype=object)
    offsets = np.concatenate([[0], np.cumsum(n_dist)[:-1]])
    outward = flat[offsets[area] + dist_i]
    sector = rng.integers(0, 10, size).astype(str).astype(object)
    unit = INWARD_LETTERS[rng.integers(0, 20, size)].astype(object) + INWARD_LETTERS[
        rng.integers(0, 20, size)
    ].astype(object)
    codes = outward + " " + sector + unit
    frame = pd.DataFrame({"code": codes, "area": area}).drop_duplicates("code")
    frame = frame.sort_values(["area", "code"], kind="stable")
    counts = np.bincount(frame["area"].to_numpy(), minlength=n_areas)
    if (counts == 0).any():  # tiny runs: guarantee each area has at least one postcode
        missing = np.flatnonzero(counts == 0)
        extra = pd.DataFrame({"code": [f"{areas['districts'][a][0]} 1AB" for a in missing], "area": missing})
        frame = pd.concat([frame, extra]).sort_values(["area", "code"], kind="stable")
        counts = np.bincount(frame["area"].to_numpy(), minlength=n_areas)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return PostcodePool(frame["code"].to_numpy(dtype=object), frame["area"].to_numpy(), start, counts)


# --------------------------------------------------------------------------------------------------
# Employers
# --------------------------------------------------------------------------------------------------
def make_employers(
    n: int, pools: Pools, pc: PostcodePool, rng: np.random.Generator, ref: np.datetime64
) -> pd.DataFrame:
    """Employers announcing redundancies: official name, sector, site, size, announcement date."""
    sec_i = rng.choice(len(pools.sectors), n, p=weights(pools.sectors))
    words = pools.sectors["words"].to_numpy()
    n_words = np.array([len(w) for w in words])
    word_i = (rng.random(n) * n_words[sec_i]).astype(np.int64)
    word = np.array([words[s][i] for s, i in zip(sec_i, word_i, strict=True)], dtype=object)
    # half named after a place, half after a founding family
    place = pools.places[rng.integers(0, len(pools.places), n)]
    family = pools.surnames[rng.choice(len(pools.surnames), n, p=pools.surname_p)]
    stem = np.where(rng.random(n) < 0.55, place, family)
    suffix = pools.suffixes[rng.integers(0, len(pools.suffixes), n)]
    name = stem + " " + word + " " + suffix
    # names must be unique: number the repeats ("Clyde Foods 2 Ltd" reads wrong, so add a place)
    dup = pd.Series(name).duplicated(keep="first").to_numpy()
    name[dup] = (
        name[dup] + " (" + pools.areas["town"].to_numpy()[rng.integers(0, len(pools.areas), dup.sum())] + ")"
    )
    name = (
        pd.Series(name)
        .where(~pd.Series(name).duplicated(), pd.Series(name) + " " + pd.Series(np.arange(n).astype(str)))
        .to_numpy(dtype=object)
    )
    area = rng.choice(len(pools.areas), n, p=weights(pools.areas))
    site = pc.codes[pc.pick(area, rng)]
    size = np.clip(rng.lognormal(3.3, 1.0, n), 5, 3000).astype(np.int64)
    announce = ref - rng.integers(20, 730, n).astype("timedelta64[D]")
    first, last = (
        pools.male[rng.choice(len(pools.male), n, p=pools.male_p)],
        pools.surnames[rng.choice(len(pools.surnames), n, p=pools.surname_p)],
    )
    female = rng.random(n) < 0.6
    first = np.where(female, pools.female[rng.choice(len(pools.female), n, p=pools.female_p)], first)
    domain = (
        pd.Series(stem).str.lower().str.replace(r"[^a-z]", "", regex=True)
        + pd.Series(word).str.lower().str.replace(r"[^a-z]", "", regex=True).str[:8]
        + ".co.uk"
    )
    contact_email = (
        pd.Series(first).str.lower().str.replace(r"[^a-z]", "", regex=True)
        + "."
        + pd.Series(last).str.lower().str.replace(r"[^a-z]", "", regex=True)
        + "@"
        + domain
    )
    svc_bits = rng.integers(1, 2 ** len(EMPLOYER_SERVICES), n)
    return pd.DataFrame(
        {
            "employer_id": np.char.add("E", np.char.zfill(np.arange(1, n + 1).astype(str), 6)).astype(object),
            "name": name,
            "sector": pools.sectors["sector"].to_numpy()[sec_i],
            "area": area,
            "site_postcode": site,
            "address_line": (
                rng.integers(1, 400, n).astype(str).astype(object)
                + " "
                + pools.streets[rng.integers(0, len(pools.streets), n)]
            ),
            "town": pools.areas["town"].to_numpy()[area],
            "size": size,
            "announcement_date": announce,
            "contact_name": first + " " + last,
            "contact_phone": _phone_numbers(n, pools, area, np.ones(n, bool), rng),
            "contact_email": contact_email.to_numpy(dtype=object),
            "services": bits_to_labels(svc_bits, EMPLOYER_SERVICES),
            "support_hours": np.round(rng.gamma(2.0, 6.0, n), 1),
            "consent": rng.random(n) < 0.9,
        }
    )


def bits_to_labels(bits: np.ndarray, labels: np.ndarray, sep: str = "; ") -> np.ndarray:
    """Map bitmasks to '; '-joined labels via the (few) distinct masks present."""
    uniq, inv = np.unique(bits, return_inverse=True)
    text = np.array(
        [sep.join(labels[[k for k in range(len(labels)) if (u >> k) & 1]]) for u in uniq], dtype=object
    )
    return text[inv]


def _phone_numbers(
    n: int, pools: Pools, area: np.ndarray, landline: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """National-format digits: mobiles 07[3-9]xxxxxxxx, landlines <area dialling code> + local number."""
    mobile = (
        "07"
        + rng.integers(3, 10, n).astype(str).astype(object)
        + np.char.zfill(rng.integers(0, 10**8, n).astype(str), 8).astype(object)
    )
    dial = pools.areas["dial_code"].to_numpy(dtype=object)[area]
    local_len = 11 - np.array([len(d) for d in pools.areas["dial_code"]])[area]
    local = rng.integers(2 * 10**7, 10**8, n).astype(str).astype(object)
    return np.where(landline, _landlines(dial, local, local_len), mobile)


def _landlines(dial: np.ndarray, local: np.ndarray, local_len: np.ndarray) -> np.ndarray:
    """Dialling code + the first ``local_len`` digits of a local number (11 digits in all)."""
    out = np.empty(len(dial), dtype=object)
    for k in np.unique(local_len):  # a handful of distinct lengths
        m = local_len == k
        out[m] = dial[m] + pd.Series(local[m]).str.slice(0, int(k)).to_numpy(dtype=object)
    return out


# --------------------------------------------------------------------------------------------------
# People
# --------------------------------------------------------------------------------------------------
def _draw(pool: np.ndarray, p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return pool[rng.choice(len(pool), n, p=p)]


def _ninos(n: int, rng: np.random.Generator) -> np.ndarray:
    space = len(NINO_PREFIXES) * 10**6
    k = rng.choice(space, n, replace=False)
    prefix = NINO_PREFIXES[k // 10**6].astype(object)
    digits = np.char.zfill((k % 10**6).astype(str), 6).astype(object)
    suffix = np.array(list("ABCD"), dtype=object)[rng.integers(0, 4, n)]
    return prefix + digits + suffix


def make_people(
    n: int, pools: Pools, settings, rng: np.random.Generator, ref_date: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (people, employers). ``settings`` is a :class:`synthetic.settings.SynthSettings`.

    The steps draw from ``rng`` one after another (employers, identities, employer of each person, homes,
    households, identifiers, case history, the remaining columns): their order, and the order of the draws
    within each, is part of the output, so moving a draw changes every file generated from a seed.
    """
    pop = settings.population
    ref = np.datetime64(ref_date, "D")
    pc = make_postcode_pool(max(2000, int(n * pop.postcodes_per_person)), pools, rng)
    n_emp = max(5, n // pop.people_per_employer)
    emp = make_employers(n_emp, pools, pc, rng, ref)

    who = _identities(n, pools, pop, ref, rng)
    emp_i = rng.choice(n_emp, n, p=emp["size"].to_numpy() / emp["size"].sum())
    home = _homes(n, pools, pc, pop, emp["area"].to_numpy()[emp_i], rng)
    who, home = _share_households(who, home, pop, rng)
    ids = _identifiers(who, pools, pop, rng)
    case = _case_history(emp, emp_i, settings, ref, rng)
    people = _people_frame(who, home, ids, case, emp, pools, pc, pop, rng)
    counts = np.bincount(emp_i, minlength=n_emp)
    emp["number_affected"] = counts + rng.integers(0, counts // 3 + 2)
    return people, emp


@dataclass(frozen=True)
class _Identity:
    """Who each person is (one entry per person; None where a person has no such name)."""

    sex: np.ndarray  # "M" / "F"
    first: np.ndarray
    middle: np.ndarray
    surname: np.ndarray
    former: np.ndarray  # women's other (maiden/married) surname
    dob: np.ndarray  # datetime64[D]


def _identities(n: int, pools: Pools, pop, ref: np.datetime64, rng: np.random.Generator) -> _Identity:
    """Sex (55% men), forename and middle name from the name pools of that sex (a middle name for a share
    ``middle_name``, never the forename again), a surname (a share ``double_barrelled`` joined to a second,
    different one), for women a former surname other than the surname, and a date of birth between 16 and
    67 years before ``ref``."""
    sex = np.where(rng.random(n) < 0.55, "M", "F").astype(object)
    male = sex == "M"
    first = np.where(
        male, _draw(pools.male, pools.male_p, n, rng), _draw(pools.female, pools.female_p, n, rng)
    )
    middle = np.where(
        male, _draw(pools.male, pools.male_p, n, rng), _draw(pools.female, pools.female_p, n, rng)
    )
    middle = np.where((rng.random(n) < pop.middle_name) & (middle != first), middle, None)
    surname = _draw(pools.surnames, pools.surname_p, n, rng)
    second = _draw(pools.surnames, pools.surname_p, n, rng)
    dbl = (rng.random(n) < pop.double_barrelled) & (second != surname)
    surname = np.where(dbl, surname + "-" + second, surname)
    former = np.where(male, None, _draw(pools.surnames, pools.surname_p, n, rng))
    former = np.where(former == surname, None, former)

    age_days = ((16 + 51 * rng.beta(1.5, 1.3, n)) * 365.25).astype(np.int64)
    dob = ref - age_days.astype("timedelta64[D]")
    return _Identity(sex, first, middle, surname, former, dob)


@dataclass(frozen=True)
class _Home:
    """Where each person lives and how they are reached."""

    area: np.ndarray  # index into pools.areas
    postcode: np.ndarray  # index into the postcode pool's codes
    previous: np.ndarray  # the same, for the previous postcode
    address: np.ndarray  # first address line
    landline: np.ndarray  # whether ``phone`` is a landline (else a mobile)
    phone: np.ndarray
    old_phone: np.ndarray  # a mobile number no longer in use
    has_phone: np.ndarray  # whether the phone number is known at all


def _homes(
    n: int, pools: Pools, pc: PostcodePool, pop, employer_area: np.ndarray, rng: np.random.Generator
) -> _Home:
    """A home in the employer's area (share ``local_to_employer``, else an area by weight), a previous
    postcode (70% in the home area) different from the home one, a street address (30% of them a flat),
    and phone numbers: a landline for a share ``landline`` (else a mobile), an old mobile, and a share
    ``phone`` known at all."""
    local = rng.random(n) < pop.local_to_employer
    home_area = np.where(
        local, employer_area, rng.choice(len(pools.areas), n, p=weights(pools.areas))
    )
    home = pc.pick(home_area, rng)
    prev_area = np.where(
        rng.random(n) < 0.7, home_area, rng.choice(len(pools.areas), n, p=weights(pools.areas))
    )
    prev = pc.pick(prev_area, rng)
    prev = np.where(prev == home, (prev + 1) % len(pc.codes), prev)
    house = rng.integers(1, 250, n).astype(str).astype(object)
    flat = np.where(
        rng.random(n) < 0.3,
        "Flat "
        + rng.integers(0, 4, n).astype(str).astype(object)
        + "/"
        + rng.integers(1, 3, n).astype(str).astype(object)
        + ", ",
        "",
    )
    address = flat + house + " " + pools.streets[rng.integers(0, len(pools.streets), n)]

    landline = rng.random(n) < pop.landline
    phone = _phone_numbers(n, pools, home_area, landline, rng)
    old_phone = _phone_numbers(n, pools, home_area, np.zeros(n, bool), rng)
    has_phone = rng.random(n) < pop.phone
    return _Home(home_area, home, prev, address, landline, phone, old_phone, has_phone)


def _share_households(who: _Identity, home: _Home, pop, rng: np.random.Generator) -> tuple[_Identity, _Home]:
    """Households copy shared attributes from another person: a share ``household_share`` of people take
    another person's surname, home (area, postcode, address) and landline (their own phone stays where the
    other has a mobile); twins, a share ``twin_share`` of everyone, also take the date of birth."""
    n = len(who.sex)
    hh = rng.random(n) < pop.household_share
    twin = hh & (rng.random(n) < pop.twin_share / max(pop.household_share, 1e-9))
    other = rng.integers(0, n, n)
    hh &= other != np.arange(n)
    twin &= hh
    who = replace(
        who,
        surname=np.where(hh, who.surname[other], who.surname),
        dob=np.where(twin, who.dob[other], who.dob),
    )
    home = replace(
        home,
        postcode=np.where(hh, home.postcode[other], home.postcode),
        area=np.where(hh, home.area[other], home.area),
        address=np.where(hh, home.address[other], home.address),
        phone=np.where(hh & home.landline[other], home.phone[other], home.phone),
    )
    return who, home


@dataclass(frozen=True)
class _Identifiers:
    """The numbers, everyday name and e-mail address a partner may record (None where there is none)."""

    nino: np.ndarray
    nino_kind: np.ndarray  # regular, missing, temporary or placeholder
    nickname: np.ndarray
    email: np.ndarray
    client_id: np.ndarray  # Scottish Candidate Number


def _identifiers(who: _Identity, pools: Pools, pop, rng: np.random.Generator) -> _Identifiers:
    """NI numbers (:func:`_ni_numbers`); an everyday name for everyone whose forename has any (one of them
    at random); an e-mail address for a share ``email``; a candidate number for those born after
    ``scn_born_after``."""
    n = len(who.sex)
    nino, kind = _ni_numbers(who, pop, rng)

    nick_i = pools.nick_formal.get_indexer(who.first)
    has_nick = nick_i >= 0
    pick = pools.nick_start[np.maximum(nick_i, 0)] + (
        rng.random(n) * pools.nick_count[np.maximum(nick_i, 0)]
    ).astype(np.int64)
    nickname = np.where(has_nick, pools.nick_values[pick], None)

    email = _emails(who.first, who.surname, rng)
    email = np.where(rng.random(n) < pop.email, email, None)

    scn = np.char.add("1", np.char.zfill(rng.choice(10**8, n, replace=False).astype(str), 8)).astype(object)
    scn = np.where(pd.Series(who.dob).dt.year.to_numpy() > pop.scn_born_after, scn, None)
    return _Identifiers(nino, kind, nickname, email, scn)


def _ni_numbers(who: _Identity, pop, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(NI number, its kind): unique regular numbers, except a share ``nino_missing`` unknown (None), a share
    ``nino_temporary`` the old temporary reference TN + DDMMYY (date of birth) + M/F, and a share
    ``nino_placeholder`` one of the dummy numbers many people share."""
    n = len(who.sex)
    nino = _ninos(n, rng)
    u = rng.random(n)
    kind = np.select(
        [
            u < pop.nino_missing,
            u < pop.nino_missing + pop.nino_temporary,
            u < pop.nino_missing + pop.nino_temporary + pop.nino_placeholder,
        ],
        ["missing", "temporary", "placeholder"],
        "regular",
    ).astype(object)
    dob_s = pd.Series(who.dob)
    nino = np.where(
        kind == "placeholder", NINO_PLACEHOLDERS[rng.integers(0, len(NINO_PLACEHOLDERS), n)], nino
    )
    nino = np.where(kind == "missing", None, nino)
    is_temp = kind == "temporary"
    nino[is_temp] = "TN" + dob_s[is_temp].dt.strftime("%d%m%y").to_numpy(dtype=object) + who.sex[is_temp]
    return nino, kind


@dataclass(frozen=True)
class _Case:
    """Each person's redundancy and PACE support."""

    employer: np.ndarray  # row of the employers frame
    announced: np.ndarray  # the employer's announcement date
    redundancy: np.ndarray
    service_date: np.ndarray
    consent_date: np.ndarray
    outcome: np.ndarray  # "" for none
    outcome_date: np.ndarray
    service_bits: np.ndarray  # bit k set: the k-th service of ``settings.services`` received


def _case_history(
    emp: pd.DataFrame, emp_i: np.ndarray, settings, ref: np.datetime64, rng: np.random.Generator
) -> _Case:
    """Redundancy 30-119 days after the employer's announcement; first service and consent between the
    announcement and ``ref``; an outcome 14-199 days after the first service (never after ``ref``); each
    service received with its ``service_propensity``."""
    n = len(emp_i)
    announce = emp["announcement_date"].to_numpy().astype("datetime64[D]")[emp_i]
    redundancy = announce + rng.integers(30, 120, n).astype("timedelta64[D]")
    span = np.maximum((ref - announce).astype(np.int64), 1)
    service_date = announce + (rng.random(n) * span).astype(np.int64).astype("timedelta64[D]")
    consent_date = announce + (rng.random(n) * span).astype(np.int64).astype("timedelta64[D]")
    outcome = OUTCOMES[rng.choice(len(OUTCOMES), n, p=OUTCOME_P)]
    outcome_date = service_date + rng.integers(14, 200, n).astype("timedelta64[D]")
    outcome_date = np.minimum(outcome_date, ref)

    svc_names = list(settings.services)
    bits = np.zeros(n, dtype=np.int64)
    for k, code in enumerate(svc_names):
        bits |= (rng.random(n) < settings.population.service_propensity.get(code, 0.0)).astype(np.int64) << k
    return _Case(emp_i, announce, redundancy, service_date, consent_date, outcome, outcome_date, bits)


def _people_frame(
    who: _Identity,
    home: _Home,
    ids: _Identifiers,
    case: _Case,
    emp: pd.DataFrame,
    pools: Pools,
    pc: PostcodePool,
    pop,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The people frame, one row per person. Drawn here, in this order: the title (Mr for men; Mrs, Ms or
    Miss for women; 1% Dr), then the PACE criterion, consent, feedback score (65% give one), ethnicity and
    benefit status in their column order."""
    n = len(who.sex)
    eth_labels = np.array(list(pop.ethnicity), dtype=object)
    eth_p = np.array(list(pop.ethnicity.values()), dtype=float)
    title = np.where(
        who.sex == "M",
        "Mr",
        _draw(np.array(["Mrs", "Ms", "Miss"], dtype=object), np.array([0.45, 0.35, 0.2]), n, rng),
    )
    title = np.where(rng.random(n) < 0.01, "Dr", title)
    emp_i = case.employer
    return pd.DataFrame(
        {
            "person_id": np.char.add("P", np.char.zfill(np.arange(1, n + 1).astype(str), 7)).astype(object),
            "sex": who.sex,
            "title": title,
            "first_name": who.first,
            "middle_name": who.middle,
            "surname": who.surname,
            "former_surname": who.former,
            "nickname": ids.nickname,
            "dob": who.dob,
            "nino": ids.nino,
            "nino_kind": ids.nino_kind,
            "postcode": pc.codes[home.postcode],
            "previous_postcode": pc.codes[home.previous],
            "area": pools.areas["area"].to_numpy()[home.area],
            "town": pools.areas["town"].to_numpy()[home.area],
            "address_line": home.address,
            "email": ids.email,
            "phone": np.where(home.has_phone, home.phone, None),
            "old_phone": home.old_phone,
            "client_id": ids.client_id,
            "employer_id": emp["employer_id"].to_numpy()[emp_i],
            "employer": emp["name"].to_numpy()[emp_i],
            "employer_postcode": emp["site_postcode"].to_numpy()[emp_i],
            "sector": emp["sector"].to_numpy()[emp_i],
            "announcement_date": case.announced,
            "redundancy_date": case.redundancy,
            "pace_criterion": CRITERIA[(rng.random(n) >= pop.criterion_under_threat).astype(int)],
            "consent": rng.random(n) < pop.consent,
            "consent_date": case.consent_date,
            "service_bits": case.service_bits,
            "service_date": case.service_date,
            "outcome": case.outcome,
            "outcome_date": case.outcome_date,
            "feedback_score": np.where(
                rng.random(n) < 0.65, rng.choice(5, n, p=[0.05, 0.08, 0.17, 0.35, 0.35]) + 1, 0
            ),
            "ethnicity": eth_labels[rng.choice(len(eth_labels), n, p=eth_p / eth_p.sum())],
            "uc_status": UC_STATUS[rng.choice(len(UC_STATUS), n, p=UC_P)],
        }
    )


def _emails(first: np.ndarray, surname: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Everyday address patterns: first.surname, firstsurname, f.surname, first_surname27 ..."""
    n = len(first)
    f, s = _ascii_lower(first), _ascii_lower(surname)
    num = pd.Series(rng.integers(1, 99, n).astype(str))
    year = pd.Series(rng.integers(60, 100, n).astype(str))
    pattern = rng.integers(0, 6, n)
    local = np.select(
        [pattern == 0, pattern == 1, pattern == 2, pattern == 3, pattern == 4],
        [f + "." + s, f + s, f.str[:1] + "." + s, f + "_" + s + num, s + f.str[:1] + year],
        f + "." + s + num,
    )
    domain = EMAIL_DOMAINS[rng.choice(len(EMAIL_DOMAINS), n, p=EMAIL_DOMAIN_P)]
    return (pd.Series(local, dtype=object) + "@" + domain).to_numpy(dtype=object)


def _ascii_lower(values: np.ndarray) -> pd.Series:
    """Lower-case ASCII letters only (accents folded), computed once per distinct value."""
    uniq, inv = np.unique(values.astype(str), return_inverse=True)
    clean = (
        pd.Series(uniq)
        .str.normalize("NFKD")
        .str.encode("ascii", "ignore")
        .str.decode("ascii")
        .str.lower()
        .str.replace(r"[^a-z]", "", regex=True)
    )
    return pd.Series(clean.to_numpy(dtype=object)[inv])
