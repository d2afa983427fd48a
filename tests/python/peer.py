"""An independent Zenoh peer for interoperability tests (eclipse-zenoh + pycdr2).

  peer.py sub --connect EP --key K --count N   print each decoded message as one JSON line
  peer.py pub --connect EP --key K --type T    publish a fixed example message of type T
                                               every 20 ms until stdin closes or 30 s pass
"""
import argparse
import json
import select
import sys
import time

import zenoh

from striatum_wire import TYPES, Header, JointState, ProgressReward, Time, ViewEstimate, stamp_ns


def open_session(connect: str) -> zenoh.Session:
    conf = zenoh.Config()
    conf.insert_json5("mode", '"peer"')
    conf.insert_json5("connect/endpoints", json.dumps([connect]))
    conf.insert_json5("listen/endpoints", "[]")
    conf.insert_json5("scouting/multicast/enabled", "false")
    return zenoh.open(conf)


def to_json(msg) -> dict:
    if isinstance(msg, JointState):
        return {
            "stamp_ns": stamp_ns(msg.header),
            "frame_id": msg.header.frame_id,
            "name": list(msg.name),
            "position": list(msg.position),
            "velocity": list(msg.velocity),
            "effort": list(msg.effort),
        }
    return {
        "stamp_ns": stamp_ns(msg.header),
        "frame_id": msg.header.frame_id,
        "episode_id": msg.episode_id,
        "step": msg.step,
        "progress": msg.progress,
        "progress_delta": msg.progress_delta,
        "done_prob": msg.done_prob,
        "done": msg.done,
        "uncertainty": msg.uncertainty,
        "per_view": [[v.view, v.progress, v.confidence] for v in msg.per_view],
        "model_id": msg.model_id,
        "inference_ns": msg.inference_ns,
    }


def example(type_name: str):
    if type_name == "sensor_msgs/msg/JointState":
        return JointState(
            header=Header(stamp=Time(sec=12, nanosec=345_678_901), frame_id="python_base"),
            name=["pan", "lift", "elbow"],
            position=[0.5, -1.25, 2.0],
            velocity=[],
            effort=[0.125, 0.25, -0.5],
        )
    if type_name == "striatum_msgs/msg/ProgressReward":
        return ProgressReward(
            header=Header(stamp=Time(sec=7, nanosec=5), frame_id="python"),
            episode_id=41,
            step=99,
            progress=0.75,
            progress_delta=-0.125,
            done_prob=0.5,
            done=True,
            uncertainty=0.0625,
            per_view=[ViewEstimate(view="front", progress=0.5, confidence=1.0),
                      ViewEstimate(view="wrist", progress=1.0, confidence=0.25)],
            model_id="python-peer",
            inference_ns=123_456_789_012,
        )
    raise SystemExit(f"unknown type {type_name}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["sub", "pub"])
    p.add_argument("--connect", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--type")
    p.add_argument("--count", type=int, default=1)
    args = p.parse_args()
    session = open_session(args.connect)
    try:
        if args.mode == "sub":
            sub = session.declare_subscriber(args.key)
            print("ready", flush=True)
            got = 0
            while got < args.count:
                sample = sub.recv()
                encoding = str(sample.encoding)
                type_name = encoding.split(";", 1)[1] if ";" in encoding else ""
                if type_name not in TYPES:
                    print(json.dumps({"error": f"unexpected encoding {encoding}"}), flush=True)
                    return 1
                msg = TYPES[type_name].deserialize(sample.payload.to_bytes())
                out = to_json(msg)
                out["type"] = type_name
                out["key"] = str(sample.key_expr)
                print(json.dumps(out), flush=True)
                got += 1
        else:
            msg = example(args.type)
            encoding = zenoh.Encoding.APPLICATION_CDR.with_schema(args.type)
            pub = session.declare_publisher(args.key, encoding=encoding)
            print("ready", flush=True)
            deadline = time.time() + 30
            while time.time() < deadline:
                pub.put(msg.serialize())
                readable, _, _ = select.select([sys.stdin], [], [], 0.02)
                if readable and not sys.stdin.readline():
                    break
    finally:
        session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
