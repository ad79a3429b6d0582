"""A Pub/Sub stand-in speaking gRPC to the real google-cloud-pubsub client (PUBSUB_EMULATOR_HOST).

Publisher.Publish and Subscriber.Pull / Acknowledge / ModifyAckDeadline, with Pub/Sub's lease
rules: a pulled message is leased until its deadline (ModifyAckDeadline moves it; 0 hands it
back), an unacknowledged message whose lease ended is delivered again with a new ack id and a
higher delivery attempt, an acknowledged one never. The package ships proto-plus types but no
generated servicers, so the methods are registered as generic handlers over those types'
serialize / deserialize. Leases end when the test says so (`expire`), never by the clock, so no
test waits for time to pass. It serves on threads of the test process (no child process to
outlive a killed test, so no PR_SET_PDEATHSIG needed), on a free loopback port.
"""

from __future__ import annotations

import itertools
import threading
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.pubsub_v1.types import pubsub


@dataclass
class Stored:
    message_id: str
    data: bytes
    attributes: dict[str, str]
    deliveries: int = 0
    ack_id: str | None = None  # the current lease's id, None when not leased
    acked: bool = False
    published: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Subscription:
    topic: str
    messages: list[Stored] = field(default_factory=list)


class PubSubStandIn:
    """Topics and subscriptions in memory; `url` is what PUBSUB_EMULATOR_HOST takes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.subscriptions: dict[str, Subscription] = {}
        self.ids = itertools.count(1)
        self.calls: dict[str, int] = {}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers(
            [
                _service(
                    "google.pubsub.v1.Publisher",
                    {"Publish": (pubsub.PublishRequest, pubsub.PublishResponse, self.publish)},
                ),
                _service(
                    "google.pubsub.v1.Subscriber",
                    {
                        "Pull": (pubsub.PullRequest, pubsub.PullResponse, self.pull),
                        "Acknowledge": (pubsub.AcknowledgeRequest, None, self.acknowledge),
                        "ModifyAckDeadline": (
                            pubsub.ModifyAckDeadlineRequest,
                            None,
                            self.modify_ack_deadline,
                        ),
                    },
                ),
            ]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.url = f"127.0.0.1:{self.port}"

    def __enter__(self) -> PubSubStandIn:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)

    def subscribe(self, topic: str, subscription: str) -> None:
        with self.lock:
            self.subscriptions[subscription] = Subscription(topic)

    def _count(self, method: str) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1

    def put(self, topic: str, attributes: dict[str, str], data: bytes = b"") -> str:
        """What Publish does, for tests that enqueue thousands of messages directly."""
        message_id = str(next(self.ids))
        for sub in self.subscriptions.values():
            if sub.topic == topic:
                sub.messages.append(Stored(message_id, data, dict(attributes)))
        return message_id

    def publish(self, request: Any, context: Any) -> Any:
        with self.lock:
            self._count("Publish")
            ids = [self.put(request.topic, dict(m.attributes), m.data) for m in request.messages]
        return pubsub.PublishResponse(message_ids=ids)

    def pull(self, request: Any, context: Any) -> Any:
        with self.lock:
            self._count("Pull")
            sub = self._sub(request.subscription, context)
            out = []
            for m in sub.messages:
                if len(out) >= request.max_messages:
                    break
                if m.acked or m.ack_id is not None:
                    continue
                m.deliveries += 1
                m.ack_id = f"{m.message_id}-{m.deliveries}"
                out.append(
                    pubsub.ReceivedMessage(
                        ack_id=m.ack_id,
                        delivery_attempt=m.deliveries,
                        message=pubsub.PubsubMessage(
                            message_id=m.message_id,
                            data=m.data,
                            attributes=m.attributes,
                            publish_time=m.published,
                        ),
                    )
                )
        return pubsub.PullResponse(received_messages=out)

    def _leased(self, sub: Subscription, ack_ids: list[str]) -> list[Stored]:
        wanted = set(ack_ids)
        return [m for m in sub.messages if m.ack_id in wanted]

    def acknowledge(self, request: Any, context: Any) -> Any:
        with self.lock:
            self._count("Acknowledge")
            sub = self._sub(request.subscription, context)
            for m in self._leased(sub, list(request.ack_ids)):  # an expired lease's id: ignored
                m.acked, m.ack_id = True, None
        return empty_pb2.Empty()

    def modify_ack_deadline(self, request: Any, context: Any) -> Any:
        with self.lock:
            self._count("ModifyAckDeadline")
            sub = self._sub(request.subscription, context)
            if request.ack_deadline_seconds == 0:
                for m in self._leased(sub, list(request.ack_ids)):
                    m.ack_id = None
        return empty_pb2.Empty()

    def _sub(self, name: str, context: Any) -> Subscription:
        sub = self.subscriptions.get(name)
        if sub is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Subscription does not exist: {name}")
        return sub

    def expire(self) -> int:
        """Every lease ends, as when its ack deadline passes: those messages are due again."""
        with self.lock:
            leased = [m for s in self.subscriptions.values() for m in s.messages if m.ack_id]
            for m in leased:
                m.ack_id = None
        return len(leased)

    def outstanding(self, subscription: str) -> int:
        """Messages not yet acknowledged (leased or waiting)."""
        with self.lock:
            return sum(not m.acked for m in self.subscriptions[subscription].messages)


def _service(name: str, methods: dict[str, tuple[Any, Any, Any]]) -> grpc.GenericRpcHandler:
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            func,
            request_deserializer=request.deserialize,
            response_serializer=(
                response.serialize if response else empty_pb2.Empty.SerializeToString
            ),
        )
        for method, (request, response, func) in methods.items()
    }
    return grpc.method_handlers_generic_handler(name, handlers)
