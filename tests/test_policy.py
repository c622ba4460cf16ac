"""The policy: rule conditions, first match wins, caps, auto_up_to, global guards, config validation, notes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.config import loads
from bot.errors import ConfigError, PolicyError
from bot.notes import context, render
from bot.decide.policy import DEFAULT_RULES, Facts, PolicyConfig, RuleConfig, decide


def facts(**overrides: object) -> Facts:
    base: dict[str, object] = {
        "issue": "defective", "rating": 1, "sentiment": -0.8, "confidence": 0.9, "matched": True, "match_confidence": 0.95,
        "order_number": "K-1", "order_age_days": 8, "item_value": Decimal("12.00"), "item_sku": "FAN-01",
        "item_name": "Pocket Fan", "delivery": "delivered", "source_kind": "schema_org", "mention_age_days": 2,
    }
    base.update(overrides)
    return Facts(**base)  # type: ignore[arg-type]


def policy(**kwargs: object) -> PolicyConfig:
    return PolicyConfig.model_validate(kwargs)


def test_old_or_unfixable_unmatched_complaints_go_to_the_watch_list_not_to_staff() -> None:
    for f in (
        facts(matched=False, order_number=None, item_value=None, mention_age_days=90),
        facts(issue="poor_quality", matched=False, order_number=None, item_value=None),
    ):
        decision = decide(f, PolicyConfig())
        assert decision.rule is None and not decision.remedies and not decision.approval
        assert "watch list" in decision.reasons[0]
    recent = decide(facts(matched=False, order_number=None, item_value=None, mention_age_days=3), PolicyConfig())
    assert recent.rule == "unmatched-contact" and recent.approval


def test_default_rules_cover_the_seed_stories() -> None:
    cases = {
        "defective-cheap-replace": facts(),
        "not-delivered-reship": facts(issue="not_delivered", item_value=Decimal(34)),
        "wrong-item-refund-keep": facts(issue="wrong_item"),
        "defective-minor-repair": facts(item_value=Decimal(89), defect="minor"),
        "defective-replace": facts(item_value=Decimal(59), defect="stopped_working"),
        "late-return-goodwill": facts(issue="fit_size", order_age_days=32, item_value=Decimal(60)),
        "unmatched-contact": facts(matched=False, order_number=None, item_value=None),
    }
    for rule, f in cases.items():
        decision = decide(f, PolicyConfig())
        assert decision.rule == rule, (rule, decision.reasons)
        if rule != "unmatched-contact":
            assert decision.automatic, (rule, decision.approval)
    assert not decide(cases["unmatched-contact"], PolicyConfig()).automatic
    assert {r.name for r in DEFAULT_RULES} >= set(cases)


def test_first_matching_rule_wins_and_conditions_are_checked() -> None:
    rules = [
        {"name": "angry-social", "issues": ["defective"], "source_kinds": ["reddit"], "max_rating": 2,
         "remedy": "gesture"},
        {"name": "old-orders", "min_order_age_days": 100, "remedy": "contact"},
        {"name": "cheap", "max_item_value": 20, "max_prior_remedies": 0, "delivery": ["delivered"],
         "remedies": [{"kind": "replacement", "shipping": "expedited", "bonus_sku": "STICKER", "bonus_value": 1}],
         "auto_up_to": 40},
        {"name": "anything", "remedy": "contact"},
    ]
    p = policy(rules=rules)
    assert decide(facts(source_kind="reddit"), p).rule == "angry-social"
    assert decide(facts(source_kind="reddit", rating=4), p).rule == "cheap"
    assert decide(facts(order_age_days=150), p).rule == "old-orders"
    cheap = decide(facts(), p)
    assert cheap.rule == "cheap" and cheap.automatic
    [replacement] = cheap.remedies
    assert replacement.params["bonus_sku"] == "STICKER" and replacement.amount == Decimal("25.00")  # 12+12+1
    assert "item value 12 is <= 20" in cheap.reasons[0]
    assert decide(facts(prior_remedies=1), p).rule == "anything"
    assert decide(facts(delivery="in_transit"), p).rule == "anything"
    assert decide(facts(item_value=None), p).rule == "anything"  # unknown value never passes a bound


def test_auto_up_to_and_caps() -> None:
    p = policy(rules=[{"name": "r", "remedies": [{"kind": "replacement"}], "auto_up_to": 10}])
    d = decide(facts(), p)
    assert not d.automatic and "above the rule's auto_up_to 10.00" in d.approval[0]
    clamp = policy(caps={"store_credit": 15}, rules=[
        {"name": "r", "remedies": [{"kind": "store_credit", "amount": 40}], "auto_up_to": 50}])
    d = decide(facts(), clamp)
    assert d.automatic and d.remedies[0].amount == Decimal("15.00") and d.remedies[0].params["amount"] == "15.00"
    over = policy(caps={"replacement": 10}, rules=[{"name": "r", "remedy": "replacement", "auto_up_to": 100}])
    d = decide(facts(), over)
    assert not d.automatic and "above its cap 10.00" in d.approval[0]


def test_keep_item_only_when_return_costs_more_than_the_item() -> None:
    p = policy(rules=[{"name": "r", "issues": ["damaged"], "remedies": [{"kind": "keep_item"}], "auto_up_to": 50}])
    d = decide(facts(issue="damaged", item_value=Decimal(90)), p)
    assert [r.kind for r in d.remedies] == ["return_pickup"]
    d = decide(facts(issue="damaged", item_value=Decimal(9)), p)
    assert [r.kind for r in d.remedies] == ["keep_item"]


def test_wrong_item_keep_weighs_what_was_sent_not_what_was_ordered() -> None:
    # Two dresses ordered (108), cheap T-shirts sent: returning the T-shirts costs more than they are worth.
    dresses = facts(issue="wrong_item", item_value=Decimal("108.00"), quantity=2, item_name="Linen Dress")
    d = decide(dresses, PolicyConfig())
    assert d.rule == "wrong-item-refund-keep"
    assert [r.kind for r in d.remedies] == ["refund", "shipping_credit", "keep_item"], d.reasons
    refund, credit, keep = d.remedies
    assert refund.amount == Decimal("108.00") and credit.amount == Decimal("5.00") and keep.amount == 0
    assert credit.params["form"] == "refund"
    assert keep.params["item_value"] == "10.00" and keep.params["wrong_item"] is True
    assert any("item sent by mistake (10.00): customer keeps it" in r for r in d.reasons)
    # the rule may say what the wrong item is worth; above the return cost it comes back by courier
    dear = policy(rules=[{"name": "r", "issues": ["wrong_item"], "auto_up_to": 200,
                          "remedies": [{"kind": "correct_item"}, {"kind": "keep_item", "sent_value": 40}]}])
    d = decide(dresses, dear)
    assert [r.kind for r in d.remedies] == ["correct_item", "return_pickup"]
    assert decide(dresses, policy(wrong_item_value=30)).remedies[2].kind == "return_pickup"


def test_correct_item_and_shipping_credit_cost_and_note() -> None:
    p = policy(rules=[{"name": "r", "issues": ["wrong_item"], "auto_up_to": 200, "remedies": [
        {"kind": "correct_item", "shipping": "expedited"}, {"kind": "shipping_credit", "form": "gift_card"},
        {"kind": "keep_item"}]}])
    d = decide(facts(issue="wrong_item", item_value=Decimal("54.00"), item_name="Linen Dress"), p)
    item, credit, _keep = d.remedies
    assert item.kind == "correct_item" and item.amount == Decimal("66.00")  # 54 + expedited 12
    assert item.params["sku"] == "FAN-01" and item.params["shipping"] == "expedited"
    assert credit.amount == Decimal("5.00") and credit.params["form"] == "gift_card"
    note = render(None, context(issue="wrong_item", remedies=[(r.kind, r.params) for r in d.remedies],
                                customer_name="Amélie Laurent", product="Linen Dress", order_number="K-1",
                                shop_name="Kestrel Lane"))
    assert "the Linen Dress you ordered is on its way to you by express delivery" in note
    assert "we credit your shipping costs: a gift card of 5.00 EUR" in note
    assert "please keep what we sent you by mistake" in note
    capped = decide(facts(issue="wrong_item"), policy(caps={"shipping_credit": 2}, rules=[
        {"name": "r", "remedies": [{"kind": "shipping_credit", "amount": 9}], "auto_up_to": 50}]))
    assert capped.remedies[0].amount == Decimal("2.00")


def test_late_return_beyond_grace_waits_for_approval() -> None:
    d = decide(facts(issue="fit_size", order_age_days=44, item_value=Decimal(60)),
               policy(return_window_days=20))
    assert not d.automatic and "more than the 14 grace days" in d.approval[0]


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"matched": False}, "no matched order"),
    ({"before_delivery": True}, "before the order was delivered"),
    ({"match_confidence": 0.6}, "match confidence 0.60 is below 0.75"),
    ({"confidence": 0.3}, "scorer confidence 0.30 is below 0.5"),
    ({"prior_remedies": 2}, "already remedied 2 times"),
    ({"in_flight": (4,)}, "remedy in flight (case #4)"),
    ({"copied_from": (4,)}, "posted earlier by someone else (case #4)"),
    ({"copied_by": (7, 9)}, "also posted by 2 other people (case #7, #9)"),
    ({"copied_by": (7, 9), "copied_more": True}, "also posted by at least 2 other people (case #7, #9, and more)"),
    ({"repeats": 3}, "repeated 3 times on one source"),
])
def test_every_guard_sends_the_case_to_approval(overrides: dict[str, object], reason: str) -> None:
    d = decide(facts(**overrides), policy(rules=[{"name": "r", "remedy": "replacement", "auto_up_to": 500}]))
    assert not d.automatic
    assert any(reason in a for a in d.approval), d.approval


def test_one_buyer_on_several_channels_is_no_reason_to_wait() -> None:
    d = decide(facts(sources=3, mentions=3, repeats=1),
               policy(rules=[{"name": "r", "remedy": "replacement", "auto_up_to": 500}]))
    assert d.automatic and d.approval == []


def test_no_matching_rule_waits_for_a_person() -> None:
    d = decide(facts(), policy(builtin_rules=False,
                               rules=[{"name": "only-reddit", "source_kinds": ["reddit"], "remedy": "gesture"}]))
    assert d.rule is None and not d.automatic and d.remedies == []


def test_the_shops_rules_extend_the_built_in_ones_unless_switched_off() -> None:
    own = [{"name": "reddit-gesture", "source_kinds": ["reddit"], "remedy": "gesture"}]
    p = policy(rules=own)
    assert [r.name for r in p.active_rules] == ["reddit-gesture"] + [r.name for r in DEFAULT_RULES]
    assert decide(facts(source_kind="reddit"), p).rule == "reddit-gesture"
    # a case the shop never meant to change still gets its built-in remedy
    assert decide(facts(), p).rule == "defective-cheap-replace"
    assert [r.name for r in policy(rules=own, builtin_rules=False).active_rules] == ["reddit-gesture"]


def test_bad_policy_config_is_refused_with_the_key() -> None:
    with pytest.raises(ConfigError, match="unknown issue 'broken'"):
        loads('[[policy.rules]]\nname = "x"\nissues = ["broken"]\nremedy = "refund"')
    with pytest.raises(ConfigError, match="names no remedy"):
        loads('[[policy.rules]]\nname = "x"')
    with pytest.raises(ConfigError, match="unknown remedy kind 'hug'"):
        loads('[policy]\ncaps = { hug = 3 }')
    with pytest.raises(ConfigError, match="mentions 'review'"):
        loads('[policy]\nnote_template = "Thanks! Please update your review."')
    with pytest.raises(ConfigError, match="not valid Jinja2"):
        loads('[policy]\nnote_template = "Hello {{ customer_name "')
    with pytest.raises(ValueError, match="unknown delivery status 'teleported'"):
        RuleConfig.model_validate({"name": "x", "remedy": "refund", "delivery": ["teleported"]})


def test_custom_note_template_renders_in_a_sandbox() -> None:
    config = loads('[policy]\nnote_template = "Hi {{ customer_name }}: {{ remedies | join(\'; \') }}. {{ shop_name }}"')
    ctx = context(issue="damaged", remedies=[("replacement", {"product_name": "Lamp", "shipping": "standard"})],
                  customer_name="Ola Nordmann", product="Lamp", order_number="1", shop_name="Kestrel Lane")
    assert render(config.policy.note_template, ctx) == (
        "Hi Ola: a new Lamp is on its way to you by standard delivery, at no cost. Kestrel Lane\n")
    with pytest.raises(PolicyError, match="template failed"):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", ctx)
    with pytest.raises(PolicyError, match="never refer to reviews"):
        render("{{ gesture_message }}", {**ctx, "gesture_message": "Five stars appreciated"})


def test_contact_note_asks_for_the_order_number_and_never_speaks_of_reviews() -> None:
    ctx = context(issue="damaged", remedies=[("contact", {"message": None})], customer_name="Jo Smith",
                  product=None, order_number=None, shop_name="Kestrel Lane", source_name="Mastodon")
    note = render(None, ctx)
    assert note.startswith("Hello Jo,")
    assert "We saw your post on Mastodon" in note and "sorry your order arrived damaged" in note
    assert "reply to this message with your order number" in note
    assert "nothing you need to do" not in note
    for word in ("review", "rating", "star"):
        assert word not in note.lower()
    # A remedy alongside the contact keeps the remedy note (something is on its way).
    mixed = render(None, context(issue="damaged", remedies=[("contact", {}), ("gesture", {"amount": "5"})],
                                 customer_name=None, product="Kettle", order_number=None, shop_name="K"))
    assert "order number" not in mixed
    with pytest.raises(ConfigError, match="mentions 'review'"):
        loads('[policy]\ncontact_note_template = "Thanks for the review, {{ customer_name }}"')


def test_watch_list_reason_names_the_nearest_rule_and_the_condition_that_failed() -> None:
    old = decide(facts(matched=False, order_number=None, item_value=None, order_age_days=None,
                       mention_age_days=90.4), PolicyConfig())
    assert old.rule is None and "watch list" in old.reasons[0]
    assert old.reasons[1] == "nearest rule unmatched-contact: complaint age 90 days is over 30"
    unfixable = decide(facts(issue="poor_quality", matched=False, order_number=None, item_value=None,
                             order_age_days=None), PolicyConfig())
    assert unfixable.reasons[1] == "nearest rule unmatched-contact: issue poor_quality is not one of its 7"
    # Custom rules: the one with the most conditions met is named, with what failed.
    rules = PolicyConfig.model_validate({"builtin_rules": False, "rules": [
        {"name": "any-delivered", "remedy": "gesture", "delivery": ["delivered"], "max_rating": 2},
        {"name": "cheap-late", "remedy": "refund", "issues": ["defective"], "max_item_value": 10,
         "max_rating": 3},
    ]})
    near = decide(facts(rating=3, delivery="in_transit", item_value=Decimal("12.50")), rules)
    assert near.rule is None
    assert near.reasons[1] == "nearest rule cheap-late: item value 12.5 is over 10"
    # A matching rule keeps its reasons as before (rounded days).
    assert "complaint age 2 days is <= 30" in decide(
        facts(matched=False, order_number=None, item_value=None), PolicyConfig()).reasons[0]


@pytest.mark.parametrize(("text", "defect"), [
    ("The kettle stopped heating after three weeks.", "stopped_working"),
    ("Headlamp died after three days", "stopped_working"),
    ("The button came off and now it won't turn on", "stopped_working"),
    ("Love the boots but the decorative studs fell off after a week.", "minor"),
    ("The duvet cover shrank two sizes in its first wash", "shrunk"),
    ("It feels cheap and flimsy", "other"),
])
def test_the_defect_is_read_from_the_buyers_words(text: str, defect: str) -> None:
    from bot.decide.defects import defect_of

    assert defect_of(text) == defect
