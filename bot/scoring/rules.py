"""The scoring stage: is this buyer unhappy, and what is their problem?

``assess()`` combines three signals over one pass of precompiled tokenising:

* TextBlob's pattern polarity (the design card's scorer) and VADER's compound, both computed by
  exact fast ports in :mod:`bot.scoring.lexical` (a test checks they agree with the libraries);
* a domain layer (:mod:`bot.scoring.domain`, phrases in :mod:`bot.scoring.phrases`) that knows how
  buyers complain: failures, delivery, wrong items, damage, missing parts, fit and returns, refunds
  and warranty fights, with negation ("no scratches"), hypotheticals ("if it breaks"), contrast
  ("worked great until"), sarcasm markers, hedges ("only complaint") and resolutions;
* the star rating when there is one.

A review is judged as a whole: lexical polarity is weighed against what the buyer says happened, so
a calm description of a failure is unhappy and a happy review with a passing quibble is not. A long
review without stars is also judged by how it ends: a closing verdict of praise that asks for no
remedy ("does exactly what I need") leans it happy and names no fixable issue from one passing fault.
Everything is offline and deterministic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence


from bot.scoring import lexical
from bot.scoring.domain import SENTENCE_BREAKS, Hit, PhraseMatcher, normalize
from bot.scoring.phrases import SOFT_CUES
from bot.scoring.tokens import Split, split_text

from bot.scoring.types import _PRIORITY, REMEDY_WORTHY, Assessment, Issue, ScoringConfig

__all__ = ["RuleScorer"]


_ISSUE_KINDS = {i.value: i for i in _PRIORITY}
# A long starless review's closing verdict is read only when the text is within this margin of
# being flagged (a clearly happy one needs no verdict).
VERDICT_MARGIN = 3.0
# How much a fault put right later in the text leans the verdict to happy.
FIXED_RELIEF = 1.0
_SOFT_AT_HIGH_STARS = frozenset({Issue.FIT_SIZE.value, Issue.NOT_AS_DESCRIBED.value})


# ----------------------------------------------------------------------------- small helpers

_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_HANDLE_RE = re.compile(r"(?<!\w)@\w+")
_LETTER_RE = re.compile(r"[^\W\d_]")
# Common English function words: a text with letters but almost none of these is not English.
_ENGLISH = frozenset(
    "the a an and or but is was are were it this that i my me we you they he she to of in on for with not no"
    " so very be have has had do does did just at from as if my its it's i'm dont don't can will would".split()
)
# Slang and emoji the two lexicons miss, common in social posts about products.
_SOCIAL_NEG = {
    "mid": -1.5, "scammy": -2.5, "trash": -2.0, "garbage": -2.2, "broke": -1.5, "broken": -1.8,
    "refund": -1.0, "sucks": -1.5, "smh": -1.5, "ugh": -1.5, "wtf": -2.0, "ffs": -2.0, "fml": -2.0,
    "dead": -1.5, "faulty": -2.0, "defective": -2.2, "ripoff": -2.5, "unusable": -2.2, "useless": -1.8,
    "junk": -2.0, "unbearable": -2.5, "unreliable": -1.5, "cancelled": -1.0, "delayed": -1.2, "missing": -1.2, "lost": -1.2, "worst": -3.1,
    "bruh": -1.0, "🤬": -3.0, "😡": -2.8, "😤": -2.0, "🙄": -1.5, "😒": -1.8, "😠": -2.5, "👎": -2.0,
    "😞": -2.0, "😩": -1.8, "😫": -1.8, "💔": -2.0, "😢": -1.8, "😭": -1.0, "🤦": -1.5, "🤦‍♀️": -1.5, "🤦‍♂️": -1.5,
}
_SOCIAL_POS = {
    "slaps": 2.0, "goated": 2.5, "obsessed": 2.0, "banger": 2.0, "fire": 1.5, "🔥": 2.0, "😍": 2.5,
    "🥰": 2.5, "❤️": 2.5, "❤": 2.5, "💯": 2.0, "👍": 1.8, "🙌": 2.0, "😊": 2.0, "✨": 1.0, "🤩": 2.5,
}


_EMOJI_VALENCE = frozenset(k for k in (*_SOCIAL_NEG, *_SOCIAL_POS) if not k.isascii() and len(k) == 1)


def _sigmoid(x: float) -> float:
    if x < -30:
        return 0.0
    if x > 30:
        return 1.0
    return 1.0 / (1.0 + math.exp(-x))


def _best(hits: Iterable[Hit]) -> dict[str, float]:
    """Evidence per kind: strongest phrase, plus a little for each further distinct one."""
    per: dict[str, list[float]] = {}
    for h in hits:
        per.setdefault(h.kind, []).append(h.weight)
    out: dict[str, float] = {}
    for kind, ws in per.items():
        ws.sort(reverse=True)
        out[kind] = ws[0] + 0.5 * sum(ws[1:3])
    return out


_EXCEPT = frozenset({"except", "apart", "other", "but", "minus", "bar", "save", "besides", "aside", "without"})


def _in_context(hits: list[Hit], tokens: Sequence[str]) -> list[Hit]:
    """Drop hits that their neighbours explain away.

    A part found broken in the sentence that says the parcel arrived damaged was broken on the
    way ("arrived with the lid cracked" is damaged, not defective); a symptom that praise covers
    ("hums quietly") is no symptom.
    """
    arrival = [h for h in hits if h.kind == "damaged" and h.weight >= 3.0]
    soft = [h for h in hits if h.cue in SOFT_CUES]
    # "Everything inside was there except the remote" reports a shortage, not a safe arrival.
    drop: set[int] = {id(h) for h in hits if h.kind == "intact" and h.end < len(tokens) and tokens[h.end] in _EXCEPT}
    if not arrival and not soft:
        return [h for h in hits if id(h) not in drop] if drop else hits
    if arrival:
        sentence = [0] * (len(tokens) + 1)
        n = 0
        for i, tok in enumerate(tokens):
            sentence[i] = n
            if tok in SENTENCE_BREAKS:
                n += 1
        damaged_sentences = {sentence[h.start] for h in arrival}
        drop.update(id(h) for h in hits if h.kind == "defective" and sentence[h.start] in damaged_sentences)
    if soft:
        praise = [h for h in hits if h.kind == "pos"]
        drop.update(id(h) for h in soft if any(p.start < h.end and h.start < p.end for p in praise))
    return [h for h in hits if id(h) not in drop]


_FAULT_KINDS = frozenset(i.value for i in REMEDY_WORTHY)
# Failures of material rather than function: with quality words around them ("flimsy", "cheap
# plastic") they describe poor quality, which no replacement of the same item would fix.
_MATERIAL_CUES = frozenset({"came off", "part broke or came off", "did not hold up", "finish wears off"})
_MATERIAL_WORDS = frozenset({
    "split", "splits", "cracked", "cracks", "snapped", "tore", "torn", "ripped", "rips", "peeled", "peeling",
    "flaking", "flaked", "frayed", "fraying", "bubbled", "bubbling", "fell", "apart", "scratched", "faded",
})


def _resolve(hits: list[Hit]) -> tuple[list[Hit], bool]:
    """Drop the faults that a fix reported later in the text put right.

    "The first one died, the seller swapped it and the new one is perfect": the death needs no
    remedy. A fault reported at or after the last fix ("the replacement arrived cracked"), or a
    fix that did not hold ("the new one did the same"), keeps every fault. Complaints before the
    fix (general ones, "worked great until") go with the faults; service, quality and price
    complaints stay, since a slow or grudging fix is still a service problem.
    """
    intact = [h.start for h in hits if h.kind == "intact"]
    if intact:
        # "The box was crushed but everything inside was fine": no damage, nothing missing.
        last_ok = max(intact)
        hits = [h for h in hits if not (h.kind in ("damaged", "missing_parts") and h.start < last_ok)]
    fixes = [h for h in hits if h.kind == "fixed"]
    if not fixes:
        return hits, False
    first = min(h.start for h in fixes)
    last = max(h.start for h in fixes)
    faults = [h for h in hits if h.kind in _FAULT_KINDS]
    # A fault reported after the last fix is a new problem ("the replacement arrived cracked");
    # one inside the fix's own words is what was fixed ("they sent the missing bolt").
    end = max(h.end for h in fixes if h.start == last)
    if not faults:
        # No named fault, only a good start gone bad before the fix ("some drops in the first
        # week, but they stopped once I moved the router"): the fix answers it.
        if not any(h.kind == "turn" and h.start < last for h in hits) or any(
                h.kind == "relapse" and h.start >= first for h in hits):
            return hits, False
    elif any(h.start >= last and h.end > end for h in faults):
        return hits, False
    if any(h.kind == "relapse" and h.start >= first for h in hits):
        return hits, False
    return [h for h in hits if not (h.kind in _FAULT_KINDS or (h.kind in ("neg", "turn") and h.start < last))], True


_INSULTS = frozenset({"trash", "rubbish", "junk", "garbage", "crap", "cheap", "tat", "piece", "of", "pile", "a", "total"})


def _worn(hits: list[Hit], tokens: Sequence[str]) -> bool:
    """Material wear described with quality words: poor quality rather than a defect.

    True when a finish wears off ("paint flaking"), or when every defect phrase describes
    material giving way (none a function failing) and a descriptive quality complaint stands
    apart from it ("flimsiest", "cheap plastic"; a bare "trash" is only an insult).
    """
    if any(h.cue == "finish wears off" for h in hits):
        return True
    defects = [h for h in hits if h.kind == "defective"]
    if not defects:
        return False
    for h in defects:
        if h.cue not in _MATERIAL_CUES and _MATERIAL_WORDS.isdisjoint(tokens[h.start:h.end]):
            return False
    return any(
        h.kind == "poor_quality" and not _INSULTS.issuperset(tokens[h.start:h.end])
        and not any(d.start < h.end and h.start < d.end for d in defects)
        for h in hits)


# A claim in scare quotes followed by what really happened: "the 'xl' gloves barely fit", "the '4k'
# camera records in 1080", "'next day' delivery, still nothing". The quoted words say which claim.
_QUOTED_RE = re.compile(r"(?<![a-z0-9])['\"]([a-z0-9][a-z0-9 &+./-]{0,28}?)['\"](?![a-z0-9])")
# A quote mark that opens a quotation (not the apostrophe of "it's"): the cheap test before the rest.
_QUOTE_OPEN_RE = re.compile("(?<![\\w'\u2019])['\"\u2018\u2019\u201c\u201d]\\w")
_SIZE_CLAIMS = frozenset({
    "xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl", "2xl", "3xl", "small", "medium", "large", "petite", "tall",
    "plus size", "king", "king size", "super king", "queen", "double", "single", "one size", "one size fits all",
    "fits all", "true to size", "regular fit", "slim fit", "oversized", "adult", "adults", "kids", "family size",
    "universal fit",
})
_SIZE_WORDS = frozenset({"size", "sized", "fit", "fits", "xl", "xxl", "xs", "small", "medium", "large", "petite", "king",
                         "queen", "double", "single", "tall", "oversized"})
_SPEC_WORDS = frozenset({
    "waterproof", "water", "resistant", "leather", "genuine", "real", "solid", "wood", "4k", "8k", "hd", "1080p", "noise",
    "cancelling", "canceling", "wireless", "fast", "charging", "unbreakable", "proof", "scratch", "shatterproof",
    "organic", "silver", "gold", "premium", "stainless", "steel", "non-stick", "nonstick", "lifetime", "heavy", "duty",
    "durable", "bpa", "cotton", "wool", "cashmere", "silk", "handmade", "authentic", "original", "natural", "pure",
    "brand", "new", "sterling", "quality", "luxury", "ergonomic", "smart", "compatible", "rechargeable", "windproof",
    "breathable", "vegan", "fresh", "homemade", "100%", "hypoallergenic", "dishwasher", "safe", "warm", "thermal",
})
_DELIVERY_WORDS = frozenset({
    "next", "day", "same", "express", "delivery", "delivered", "dispatched", "shipped", "shipping", "fast", "priority",
    "tracked", "in", "stock", "out", "for", "2-day", "48h", "24h", "guaranteed", "arriving", "today", "tomorrow",
})
_ARRIVED_WORDS = frozenset({"came", "arrived", "turned", "showed", "got", "received", "arrive", "took"})


def _quoted_claim(norm: str, tokens: Sequence[str]) -> tuple[str, str] | None:
    """(issue, claim) for a claim in scare quotes in a complaint, else None."""
    for m in _QUOTED_RE.finditer(norm):
        claim = m.group(1).strip()
        words = claim.split()
        if not words or len(words) > 5:
            continue
        if claim in _SIZE_CLAIMS or (len(words) <= 3 and not _SIZE_WORDS.isdisjoint(words)
                                     and _DELIVERY_WORDS.isdisjoint(words)):
            return Issue.FIT_SIZE.value, claim
        if all(w in _DELIVERY_WORDS for w in words):
            arrived = not _ARRIVED_WORDS.isdisjoint(tokens)
            return (Issue.SERVICE.value if arrived else Issue.NOT_DELIVERED.value), claim
        if not _SPEC_WORDS.isdisjoint(words):
            return Issue.NOT_AS_DESCRIBED.value, claim
    return None


# The weight of a claim in scare quotes ("the 'waterproof' jacket ...") as evidence of its issue.
QUOTED_CLAIM_WEIGHT = 3.0
# A starless review at least this long is judged by how it ends as well as by what it mentions.
LONG_MIN_WORDS = 25
# How much a happy closing verdict of a long starless review leans it to happy.
VERDICT_RELIEF = 2.0
# Below this fault evidence (one ordinary phrase weighs 2-3), a long starless review with a happy
# verdict names no fixable issue.
VERDICT_FAULT_WEIGHT = 3.5
# A fix is no verdict ("they swapped it, the fault followed the camera"): only praise counts.
_CLOSE_POS = frozenset({"pos", "verdict", "hedge"})
_CONTRAST = frozenset({"but", "however", "though", "although", "yet"})
_CLOSE_NEG = frozenset({"neg", "sarcasm", "turn", "relapse", "ask", *(i.value for i in _PRIORITY)})


def _happy_close(hits: list[Hit], tokens: Sequence[str], v_last: float) -> bool:
    """True when a long review ends on a happy verdict and asks for nothing.

    Long reviews mention problems in passing (a former product, a fault put right, a worry that
    came to nothing, a gripe the buyer can live with); the closing lines say what the buyer makes of
    it all ("Does exactly what I need", "Would buy again"). A last line with a complaint or a request
    for a remedy ("I'd like it replaced") is no happy close, whatever came before it.
    """
    # Starts of the last two sentences (scanning back) and of the second one (scanning forward).
    starts: list[int] = []
    end = len(tokens)
    for i in range(len(tokens) - 1, -1, -1):
        if tokens[i] in SENTENCE_BREAKS:
            if i + 1 < end:
                starts.append(i + 1)
                if len(starts) == 2:
                    break
            end = i
    if len(starts) < 2:
        return False  # fewer than three sentences
    last, prev = starts
    second = next(i + 1 for i, tok in enumerate(tokens) if tok in SENTENCE_BREAKS)
    # "I love the sound, but I need these fixed": what follows the last "but" is the verdict.
    contrast = max((i for i in range(last, len(tokens) - 1) if tokens[i] in _CONTRAST), default=-1)
    if contrast >= 0:
        last = contrast + 1
    last_kinds: set[str] = set()
    prev_kinds: set[str] = set()
    first_kinds: set[str] = set()
    praised = False
    for h in hits:
        kind = h.kind
        if kind in _CLOSE_POS:
            praised = True
        if h.start >= last:
            last_kinds.add(kind)
        elif h.start >= prev:
            prev_kinds.add(kind)
        if h.start < second:
            first_kinds.add(kind)
    if not _CLOSE_NEG.isdisjoint(last_kinds) or "ask" in prev_kinds:
        return False
    if not _CLOSE_POS.isdisjoint(last_kinds):
        return True
    if v_last < 0.0 or not _CLOSE_NEG.isdisjoint(prev_kinds):
        return False
    # A neutral last line: the line before it, or an opening verdict ("Solid SSD."), decides.
    return (v_last >= 0.5 and praised) or not _CLOSE_POS.isdisjoint(prev_kinds) or (
        not _CLOSE_POS.isdisjoint(first_kinds) and _CLOSE_NEG.isdisjoint(first_kinds))


# ----------------------------------------------------------------------------- the scorer

class RuleScorer:
    """Combines lexical polarity, the domain phrase layer and the rating into an Assessment."""

    def __init__(self, config: ScoringConfig | None = None) -> None:
        self.config = config or ScoringConfig()
        extra: list[tuple[str, float, str, Sequence[str]]] = []
        for kind, phrases in self.config.extra_phrases.items():
            if kind not in _ISSUE_KINDS and kind not in ("neg", "pos"):
                raise ValueError(f"[scoring] extra_phrases: unknown issue {kind!r}")
            extra.append((kind, 3.0 if kind in _ISSUE_KINDS else 2.0, f"configured {kind} phrase", phrases))
        self._matcher = PhraseMatcher(extra)
        vader = dict(lexical.VADER_LEXICON)
        vader.update(_SOCIAL_NEG)
        vader.update(_SOCIAL_POS)
        for w in self.config.extra_negative_words:
            vader[w.lower()] = -2.0
        for w in self.config.extra_positive_words:
            vader[w.lower()] = 2.0
        self._vader_lex = vader

    # -- signals ---------------------------------------------------------------------------------

    def _lexical(self, text: str, sp: Split) -> tuple[float, float, float, float]:
        """(TextBlob polarity, VADER compound, VADER mean of sentence compounds, last sentence's compound)."""
        tb = lexical.textblob_polarity(sp.textblob)
        words = sp.vader
        vals = lexical.vader_valences(words, self._vader_lex)
        vd = lexical.vader_compound(text, words, vals)
        # Long reviews saturate the whole-text compound; the per-sentence mean keeps proportion.
        sents: list[float] = []
        a = 0
        norm = lexical.vader_normalize
        for b in sp.sentence_ends:
            if b > a:
                sents.append(norm(sum(vals[a:b])))
                a = b
        if a < len(vals):
            rest = sum(vals[a:])
            if rest:
                sents.append(norm(rest))
        vmean = sum(sents) / len(sents) if sents else 0.0
        return tb, vd, vmean, (sents[-1] if sents else 0.0)

    def assess(self, text: str, rating: float | None = None, title: str | None = None) -> Assessment:
        """Score one review or post. ``rating`` is 1..5 stars (None when the source has none)."""
        cfg = self.config
        cues: list[str] = []
        if rating is not None and (
            isinstance(rating, bool) or not isinstance(rating, (int, float)) or not 1 <= rating <= 5
        ):
            raise ValueError(f"rating must be between 1 and 5, got {rating!r}")
        text = text or ""
        if title:
            text = f"{title.strip()}.\n{text}" if text.strip() else title
        if len(text) > cfg.max_chars:
            text = text[: cfg.max_chars]
            cues.append(f"text truncated to {cfg.max_chars} characters")
        stripped = _HANDLE_RE.sub(" ", _URL_RE.sub(" ", text)).strip()
        if not stripped:
            why = "empty text" if not text.strip() else "no words to score (only links or handles)"
            return self._rating_only(rating, cues + [why])
        ascii_text = stripped.isascii()
        letters: list[str] = []
        if not ascii_text and len(stripped.encode()) - len(stripped) > len(stripped) // 8:
            # Enough non-ASCII to be another script (curly quotes and emoji alone never are).
            letters = _LETTER_RE.findall(stripped[:2000])
        sp = split_text(stripped)
        tokens = sp.domain
        if tokens and tokens[-1] not in SENTENCE_BREAKS:
            # The end of the text ends a sentence: "... and then nothing" matches like "... nothing."
            tokens = [*tokens, "."]
        if self._foreign(tokens, letters, self._matcher.vocab):
            return self._rating_only(rating, cues + ["text does not look like English; not scored"])

        tb, vd, vmean, v_last = self._lexical(stripped, sp)
        hits = self._matcher.scan(tokens)
        in_context = _in_context([h for h in hits if h.asserted], tokens)
        asserted, fixed = _resolve(in_context)
        ev = _best(asserted)
        issues = {k: v for k, v in ev.items() if k in _ISSUE_KINDS}
        if (rating is None or rating < cfg.happy_min_rating) and (
                " '" in stripped or '"' in stripped or stripped[0] == "'" or (
                    not ascii_text and ("\u2018" in stripped or "\u201c" in stripped or " \u2019" in stripped))
        ) and _QUOTE_OPEN_RE.search(stripped):
            quoted = _quoted_claim(normalize(stripped), tokens)
            # Scare quotes in a post with no praise: the claim is what the buyer says was untrue.
            if quoted is not None and (ev.get("pos", 0.0) == 0.0 or ev.get("sarcasm", 0.0) > 0.0):
                kind, claim = quoted
                issues[kind] = max(issues.get(kind, 0.0), QUOTED_CLAIM_WEIGHT)
                ev["sarcasm"] = max(ev.get("sarcasm", 0.0), 1.0)
                cues.append(f"claim in scare quotes: '{claim}'")
        if fixed:
            cues.append("fault already put right: no remedy needed")
        worn = _worn(asserted, tokens)
        if worn and "defective" in issues:
            # "Flimsy, the corners split after two weeks": poor quality, not a one-off defect.
            del issues["defective"]
            cues.append("material wear with quality complaints: poor quality")
        arrived = ev.get("arrived", 0.0) > 0.0
        if arrived and "not_delivered" in issues:
            last_arrival = max(h.start for h in asserted if h.kind == "arrived")
            if all(h.start < last_arrival for h in asserted if h.kind == "not_delivered"):
                # It came in the end: the wait is a service complaint, not a missing parcel.
                issues["service"] = max(issues.get("service", 0.0), issues.pop("not_delivered"))
                cues.append("delivery was late, not lost: service")
        remedy = {k: v for k, v in issues.items() if _ISSUE_KINDS[k] in REMEDY_WORTHY}
        neg = ev.get("neg", 0.0)
        pos = ev.get("pos", 0.0)
        turn = ev.get("turn", 0.0)
        sarcasm = ev.get("sarcasm", 0.0)
        resolved = ev.get("resolved", 0.0)
        hedge = ev.get("hedge", 0.0)
        strongest_fault = max(remedy.values(), default=0.0)
        any_issue = max(issues.values(), default=0.0)

        # Lexical polarity: when the buyer reports a real problem, praise words nearby are the
        # "worked great until" kind or sarcasm, so they count for less.
        lex = 0.45 * tb + 0.35 * vmean + 0.2 * vd
        if not ascii_text and not _EMOJI_VALENCE.isdisjoint(stripped):
            # VADER reads emoji as their names ("pouting face"), which its lexicon mostly lacks.
            emo = sum(self._vader_lex.get(ch, 0.0) for ch in stripped if ch in _EMOJI_VALENCE)
            if emo:
                lex += 0.6 * lexical.vader_normalize(emo)
                cues.append(f"emoji {lexical.vader_normalize(emo):+.2f}")
        if (strongest_fault >= 2.5 or sarcasm) and lex > 0:
            lex *= 0.3
        if not issues and neg == 0.0 and stripped.rstrip().endswith("?"):
            # A question with no complaint in it ("anyone watching the game?") is mostly neutral.
            lex *= 0.5
        z = -0.35 - 2.2 * lex
        z += 0.55 * min(any_issue, 4.0) + 0.35 * min(strongest_fault, 4.0)
        z += 0.5 * min(neg, 4.0) - 0.45 * min(pos, 4.0)
        z += 0.5 * min(turn, 2.0) + 0.6 * min(sarcasm, 2.0)
        z -= 0.6 * min(resolved, 2.0) + 0.5 * min(hedge, 2.0)
        long_starless = rating is None and len(sp.vader) >= LONG_MIN_WORDS  # VADER's tokens are the words
        # The verdict can only matter to a text the rules or the model might flag.
        happy_close = long_starless and z > -VERDICT_MARGIN and _happy_close(in_context, tokens, v_last)
        if happy_close:
            z -= VERDICT_RELIEF
            cues.append("a long review that ends on a happy verdict")
            if 0.0 < strongest_fault < VERDICT_FAULT_WEIGHT:
                # One ordinary fault phrase in a review that ends happily and asks for nothing is
                # a passing remark (set up, worked around, lived with), not a case for a remedy.
                for k in remedy:
                    del issues[k]
                remedy = {}
                strongest_fault = 0.0
                cues.append("a passing fault in a happy review: no remedy")
        if fixed and not issues.get("service"):
            # What remains of a put-right fault is mostly the words describing it (unless the
            # buyer complains about how the fix went: then it is a service complaint).
            z -= FIXED_RELIEF

        if rating is not None:
            stars = float(rating)
            if stars <= cfg.unhappy_max_rating:
                z = max(z + 3.0, 1.5)
                cues.append(f"rating {stars:g}/5")
            elif stars >= cfg.happy_min_rating:
                # Fit and listing remarks at 4-5 stars are advice to other buyers, not complaints.
                hard_fault = max((v for k, v in remedy.items() if k not in _SOFT_AT_HIGH_STARS), default=0.0)
                if hard_fault >= 3.0 and resolved == 0.0:
                    # A real failure is a problem whatever the stars: keep it flagged.
                    z = max(z - 0.5, 0.5)
                    cues.append(f"rating {stars:g}/5 but a failure is reported")
                else:
                    soft = max((v for k, v in remedy.items() if k in _SOFT_AT_HIGH_STARS), default=0.0)
                    z -= 2.0 + (stars - cfg.happy_min_rating) + 0.8 * min(soft, 4.0)
                    cues.append(f"rating {stars:g}/5")
            else:
                z += 0.3
                cues.append(f"rating {stars:g}/5")

        z -= cfg.unhappy_threshold
        unhappy = z > 0.0
        p_unhappy = _sigmoid(1.3 * z)

        # Issue: the strongest asserted fixable problem, then quality/service/price, else other.
        issue = Issue.NONE
        issue_conf = 1.0
        if unhappy:
            issue = Issue.OTHER
            if remedy and strongest_fault >= cfg.issue_min_weight:
                ranked = sorted(remedy.items(), key=lambda kv: (-kv[1], _PRIORITY.index(_ISSUE_KINDS[kv[0]])))
                issue = _ISSUE_KINDS[ranked[0][0]]
                margin = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0.0)
                issue_conf = min(0.97, 0.55 + 0.1 * strongest_fault + 0.08 * margin)
            elif issues:
                ranked = sorted(issues.items(), key=lambda kv: (-kv[1], _PRIORITY.index(_ISSUE_KINDS[kv[0]])))
                issue = _ISSUE_KINDS[ranked[0][0]]
                issue_conf = 0.7
            else:
                issue_conf = 0.6
        confidence = (p_unhappy * issue_conf) if unhappy else 1.0 - p_unhappy
        sentiment = max(-1.0, min(1.0, 0.5 * tb + 0.5 * vmean if rating is None else
                                  0.4 * tb + 0.3 * vmean + 0.3 * (float(rating) - 3.0) / 2.0))
        cues.append(f"textblob {tb:+.2f}, vader {vd:+.2f}")
        seen: set[str] = set()
        for h in hits:
            label = h.cue
            if h.negated:
                label = f"negated: {label}"
            elif h.hypothetical:
                label = f"hypothetical: {label}"
            if label not in seen:
                seen.add(label)
                cues.append(f"{label}: \"{' '.join(tokens[h.start:h.end])}\"")
        return Assessment(
            sentiment=round(sentiment, 4),
            unhappy=unhappy,
            issue=issue,
            confidence=round(confidence, 3),
            cues=tuple(cues),
            textblob=tb,
            vader=vd,
        )

    @staticmethod
    def _foreign(tokens: Sequence[str], letters: Sequence[str], vocab: frozenset[str] | set[str] = frozenset()) -> bool:
        # Mostly non-Latin script, or Latin-script words that neither lexicon nor our list of
        # English function words knows: scoring them would only produce noise.
        if letters and not all(c.isascii() for c in letters[:200]):
            sample = letters[:400]
            if sum(1 for c in sample if c.isascii()) / len(sample) < 0.5:
                return True
        tb, vd, en, dom = lexical.TB_LEXICON, lexical.VADER_LEXICON, _ENGLISH, vocab
        # Fast path: enough known words among the first tokens already settle it (there are at
        # least as many tokens as words, so this bar is never lower than the exact one below).
        bar = 0.15 * len(tokens)
        known = 0
        for t in tokens:
            if t[0].isalpha() and (t in en or t in tb or t in vd or t in dom):
                known += 1
                if known >= bar and known >= 5:
                    return False
        words = [t for t in tokens if t[0].isalpha()]
        if len(words) < 5:
            return False
        need = 0.15 * len(words)
        known = 0
        for w in words:
            if w in en or w in tb or w in vd or w in dom:
                known += 1
                if known >= need:
                    return False
        return True

    def _rating_only(self, rating: float | None, cues: list[str]) -> Assessment:
        # Nothing to read: fall back on the stars alone, or a neutral verdict.
        if rating is None:
            return Assessment(0.0, False, Issue.NONE, 0.5, tuple(cues))
        stars = float(rating)
        cues.append(f"rating {stars:g}/5")
        unhappy = stars <= self.config.unhappy_max_rating
        return Assessment(round((stars - 3.0) / 2.0, 4), unhappy, Issue.OTHER if unhappy else Issue.NONE,
                          0.8 if unhappy or stars >= self.config.happy_min_rating else 0.5, tuple(cues))
