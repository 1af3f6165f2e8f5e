"""Every event type round-trips through the codec, and tags are a fixed contract."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from tests.strategies import event_strategy
from ybstate.codec import ACTION_TAG_OF, make_codec
from ybstate.codec import TAG_OF as EVENT_TAGS
from ybstate.errors import StoreError


@pytest.mark.parametrize("cls", list(EVENT_TAGS), ids=lambda c: c.__name__)
def test_every_event_type_round_trips_through_json(cls):
    codec = make_codec()

    @given(event_strategy(cls))
    def round_trip(event):
        tag = codec.tag(event)
        text = codec.to_json(event)
        assert tag == EVENT_TAGS[cls]
        assert json.loads(text)  # plain JSON, no Python-only encodings
        assert codec.from_json(tag, text) == event

    round_trip()


def test_tags_are_unique_and_never_class_names():
    tags = list(EVENT_TAGS.values())
    assert len(set(tags)) == len(tags)
    for cls, tag in EVENT_TAGS.items():
        assert cls.__name__ not in tag


def test_unknown_tag_is_refused_with_the_known_ones():
    with pytest.raises(StoreError, match=r"unknown event type 'log\.nonsense'") as info:
        make_codec().from_json("log.nonsense", "{}")
    assert "log.mutator" in str(info.value)


def test_malformed_payload_names_the_event_type():
    with pytest.raises(StoreError, match=r"'log\.commit' has a malformed payload"):
        make_codec().from_json("log.commit", '{"seq": 1}')


@pytest.mark.parametrize("cls", list(ACTION_TAG_OF), ids=lambda c: c.__name__)
def test_every_action_type_round_trips_through_json(cls):
    codec = make_codec()

    @given(event_strategy(cls))
    def round_trip(action):
        tag = codec.action_tag(action)
        payload = json.loads(json.dumps(codec.action_to_payload(action)))  # plain JSON
        assert tag == ACTION_TAG_OF[cls] and cls.__name__ not in tag
        assert codec.action_from_payload(tag, payload) == action

    round_trip()


def test_an_action_outside_the_model_or_an_unknown_tag_is_refused():
    codec = make_codec()
    with pytest.raises(StoreError, match="is not an action of the model"):
        codec.action_tag(object())
    with pytest.raises(StoreError, match=r"unknown action type 'cluster\.explode'"):
        codec.action_from_payload("cluster.explode", {})
