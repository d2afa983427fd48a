"""Striatum message layouts for Python, written from docs/wire-format.md with pycdr2.

Nothing here is generated from the Rust code: it is an independent reading of the documented
layout, which is what the interoperability tests check.
"""
from dataclasses import dataclass

from pycdr2 import IdlStruct
from pycdr2.types import float32, float64, int32, sequence, uint32, uint64


@dataclass
class Time(IdlStruct, typename="builtin_interfaces/msg/Time"):
    sec: int32
    nanosec: uint32


@dataclass
class Header(IdlStruct, typename="std_msgs/msg/Header"):
    stamp: Time
    frame_id: str


@dataclass
class JointState(IdlStruct, typename="sensor_msgs/msg/JointState"):
    header: Header
    name: sequence[str]
    position: sequence[float64]
    velocity: sequence[float64]
    effort: sequence[float64]


@dataclass
class ViewEstimate(IdlStruct, typename="striatum_msgs/msg/ViewEstimate"):
    view: str
    progress: float32
    confidence: float32


@dataclass
class ProgressReward(IdlStruct, typename="striatum_msgs/msg/ProgressReward"):
    header: Header
    episode_id: uint64
    step: uint64
    progress: float32
    progress_delta: float32
    done_prob: float32
    done: bool
    uncertainty: float32
    per_view: sequence[ViewEstimate]
    model_id: str
    inference_ns: uint64


TYPES = {
    "sensor_msgs/msg/JointState": JointState,
    "striatum_msgs/msg/ProgressReward": ProgressReward,
}


def stamp_ns(header: Header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
