"""The reference oslo.messaging side of benches/compare: the same work as our tools, timed
by the benchmark from outside (the process's wall time and peak memory).

notify URL EXCHANGE TOPIC EVENT_TYPE FILE  sends each line of FILE (a JSON payload) with
                                           oslo_messaging.Notifier(...).info in a loop.
listen URL EXCHANGE TOPIC COUNT            runs get_notification_listener on TOPIC (the
                                           shared TOPIC.info queue) until COUNT notifications
                                           reached its endpoint.
"""

import json
import sys
import threading

from oslo_config import cfg
import oslo_messaging


def transport(url, exchange):
    oslo_messaging.set_transport_defaults(control_exchange=exchange)
    conf = cfg.ConfigOpts()
    conf([], project="oslo-notify-bench")
    return oslo_messaging.get_notification_transport(conf, url=url)


def notify(url, exchange, topic, event_type, path):
    notifier = oslo_messaging.Notifier(
        transport(url, exchange),
        publisher_id="bench",
        driver="messagingv2",
        topics=[topic],
    )
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            notifier.info({}, event_type, json.loads(line))


class Counter:
    def __init__(self, count):
        self.left = count
        self.lock = threading.Lock()
        self.done = threading.Event()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.left -= 1
            if self.left == 0:
                self.done.set()


def listen(url, exchange, topic, count):
    counter = Counter(int(count))
    listener = oslo_messaging.get_notification_listener(
        transport(url, exchange),
        [oslo_messaging.Target(topic=topic)],
        [counter],
        executor="threading",
    )
    listener.start()
    counter.done.wait()
    listener.stop()
    listener.wait()


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    {"notify": notify, "listen": listen}[command](*arguments)
