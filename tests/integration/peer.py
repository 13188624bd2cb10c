"""The reference oslo.messaging, driven by tests/interop.rs: send or listen for notifications.

send:   reads a JSON list of cases on stdin, sends each with oslo_messaging.Notifier, and
        prints one JSON line per case with what a listener must receive.
listen: runs get_notification_listener with an endpoint for every priority, says "peer listener ready" on
        stderr once consuming, and prints one JSON line per notification an endpoint got.
"""

import argparse
import json
import sys
import threading
import time

from oslo_config import cfg
from oslo_context import context as oslo_context
import oslo_messaging

PRIORITIES = ["audit", "debug", "info", "warn", "error", "critical", "sample"]


class ServiceContext(oslo_context.RequestContext):
    """A request context that also carries a secret, as some services' contexts do."""

    def __init__(self, service_password=None, **kwargs):
        super().__init__(**kwargs)
        self.service_password = service_password

    def redacted_copy(self, **kwargs):
        return super().redacted_copy(service_password=self.service_password, **kwargs)

    def to_dict(self):
        values = super().to_dict()
        values["service_password"] = self.service_password
        return values


def transport(url, exchange):
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    conf = cfg.ConfigOpts()
    conf([], project="interop")
    return oslo_messaging.get_notification_transport(conf, url=url)


def send(args):
    cases = json.load(sys.stdin)
    out = []
    notifiers = {}
    for case in cases:
        key = (case["driver"], tuple(case["topics"]))
        if key not in notifiers:
            notifiers[key] = oslo_messaging.Notifier(
                transport(args.url, args.exchange),
                driver=case["driver"],
                topics=case["topics"],
            )
        notifier = notifiers[key].prepare(publisher_id=case["publisher_id"])
        ctxt = ServiceContext(**case["context"]) if case.get("context") is not None else None
        getattr(notifier, case["method"])(ctxt, case["event_type"], case["payload"])
        sent = ctxt.redacted_copy().to_dict() if ctxt is not None else {}
        out.append({"event_type": case["event_type"], "context": sent})
    for line in out:
        print(json.dumps(line))


def listen(args):
    got = []
    lock = threading.Lock()

    class Endpoint:
        pass

    def method(priority):
        def record(self, ctxt, publisher_id, event_type, payload, metadata):
            with lock:
                got.append({
                    "priority": priority,
                    "ctxt": ctxt,
                    "publisher_id": publisher_id,
                    "event_type": event_type,
                    "payload": payload,
                    "metadata": metadata,
                })
            time.sleep(args.delay)
        return record

    for priority in PRIORITIES:
        setattr(Endpoint, priority, method(priority))
    endpoint = Endpoint()
    if args.event_type:
        endpoint.filter_rule = oslo_messaging.NotificationFilter(event_type=args.event_type)
    targets = [oslo_messaging.Target(topic=t, exchange=args.exchange) for t in args.topic]
    listener = oslo_messaging.get_notification_listener(
        transport(args.url, args.exchange), targets, [endpoint],
        executor="threading", pool=args.pool)
    listener.start()
    print("peer listener ready", file=sys.stderr, flush=True)
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        with lock:
            if args.count and len(got) >= args.count:
                break
        if args.idle and got and time.time() - last_seen(got, lock) > args.idle:
            break
        time.sleep(0.05)
    listener.stop()
    listener.wait()
    for line in got:
        print(json.dumps(line))


_seen = {"count": 0, "at": time.time()}


def last_seen(got, lock):
    with lock:
        if len(got) != _seen["count"]:
            _seen["count"] = len(got)
            _seen["at"] = time.time()
    return _seen["at"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["send", "listen"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--topic", action="append", default=[])
    parser.add_argument("--pool")
    parser.add_argument("--event-type")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--idle", type=float, default=0,
                        help="stop once nothing arrived for this long after the first")
    parser.add_argument("--delay", type=float, default=0)
    args = parser.parse_args()
    send(args) if args.command == "send" else listen(args)


if __name__ == "__main__":
    main()
