"""The MQTT broker: amqtt 0.12.1 with CloudSignal's logins, tenancy and revocation.

amqtt has no hook to authenticate before it touches session state, to namespace tenants, or to end
a session from outside, so this subclass re-does the connection path (`_client_connected`) and a few
private methods. Each override says which stock defect it fixes; the shared notes
(`amqtt-0.12.1.md`) record how each was reproduced. amqtt is pinned to 0.12.1 for this reason.

The connection path, in order: a cap on sockets per source address that have not logged in
(admission.py); an MQTT 3.1.1 CONNECT within `connect_timeout` (packets.py); the throttle (a username
or address in back-off is refused before any password work, throttle.py); the bounded login queue,
which drops clients that hung up; credential check in a thread (no session state touched yet; a
refusal leaves nothing behind); the
login registered as pending and, if a revocation hint arrived meanwhile, its row read again; will
topic checked like a publish; the client id put in the workspace's namespace; a client id held by
another credential refused (when the workspace binds client ids); take-over of the same client id in
the same workspace; CONNACK; registration, so revocation can find the session. When it ends, a
ConnectionRecord says why (history.py).
"""

import asyncio
import contextlib
import logging
import math
import socket
import ssl
import time
from collections import deque
from collections.abc import Coroutine
from functools import partial
from http import HTTPStatus
from typing import Any

import websockets
from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker, RetainedApplicationMessage, Server
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt import packet_class
from amqtt.mqtt.connack import UNACCEPTABLE_PROTOCOL_VERSION, ConnackPacket
from amqtt.mqtt.constants import QOS_0, QOS_1, QOS_2
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.mqtt.packet import MQTTFixedHeader
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.publish import PublishPacket
from amqtt.mqtt.pubrec import PubrecPacket
from amqtt.mqtt.pubrel import PubrelPacket
from amqtt.mqtt.subscribe import SubscribePacket
from amqtt.mqtt.unsubscribe import UnsubscribePacket
from amqtt.session import IncomingApplicationMessage, OutgoingApplicationMessage, Session
from amqtt.utils import gen_client_id
from django import db
from django.utils import timezone
from transitions import MachineError
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from acl.language import PUBLISH, SUBSCRIBE
from cloudsignal.broker import namespace, packets
from cloudsignal.broker.acl_cache import AclCache
from cloudsignal.broker.admission import HungUp, LoginQueue, QueueFull, Ticket, Unauthenticated, hung_up
from cloudsignal.broker.auth import (
    BAD_USERNAME_OR_PASSWORD,
    IDENTIFIER_REJECTED,
    NOT_AUTHORIZED,
    SERVER_UNAVAILABLE,
    Authenticator,
    Login,
    Refusal,
    split_username,
)
from cloudsignal.broker.blocking import ThreadPool
from cloudsignal.broker.config import BrokerOptions
from cloudsignal.broker.hints import HintReceiver
from cloudsignal.broker.history import ConnectionHistory, Ended, Reason
from cloudsignal.broker.logtext import quoted
from cloudsignal.broker.packets import BufferReader, MeteredReader, MeteredWriter, PacketTooLarge, read_packet
from cloudsignal.broker.persistence import InFlight, Persistence, SessionRecord, Stored
from cloudsignal.broker.presence import Presence
from cloudsignal.broker.revocation import Credential, Revoker, current_credentials, still_allowed
from cloudsignal.broker.sessions import LiveConnection, SessionRegistry
from cloudsignal.broker.subscriptions import SubscriptionIndex
from cloudsignal.broker.throttle import Throttle
from workspaces.models import Workspace

log = logging.getLogger(__name__)

WEBSOCKET_PATH = "/mqtt"
# Keep-alive is enforced at 1.5 times the interval the client announced (MQTT 3.1.1, 3.1.2.10).
KEEPALIVE_GRACE = 1.5
# How long a kick or take-over waits for the old connection to finish.
CLOSE_WAIT_SECONDS = 2.0


# Back-pressure towards publishers: messages read from one connection and not yet routed, and
# messages routed to the broadcast loop and not yet delivered. Past these the broker stops reading
# from the publisher (TCP pushes back) instead of buffering without bound (stock amqtt grew by 67 MiB
# in 5 s under a publisher faster than its broadcast loop).
INBOUND_LIMIT = 1000
BROADCAST_LIMIT = 10_000


class Inbound(asyncio.Queue[Any]):
    """A session's `delivered_message_queue` (what its connection read, waiting to be routed), with
    `room()` to wait on once it holds `limit` messages, until it is down to half (so a reader that
    waited reads a burst, not one message per wake-up). Never refuses a message: the reader waits
    before it reads more."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self._room = asyncio.Event()
        self._room.set()

    def put_nowait(self, item: Any) -> None:
        super().put_nowait(item)
        if self.qsize() >= self.limit:
            self._room.clear()

    def get_nowait(self) -> Any:
        item = super().get_nowait()
        if self.qsize() <= self.limit // 2:
            self._room.set()
        return item

    def full_up(self) -> bool:
        return not self._room.is_set()

    async def room(self) -> None:
        await self._room.wait()


class TenantHandler(BrokerProtocolHandler):
    """amqtt's protocol handler, with topics moved into the session's workspace namespace.

    Inbound topics and filters get the prefix before amqtt sees them; outbound messages lose it, and
    a message outside the prefix is never sent (whatever path it came by: live, queued, retained).
    """

    prefix = ""
    # The largest PUBLISH payload accepted (BrokerOptions.max_payload_size), set at CONNACK.
    max_payload = 0
    # For the connection history: PUBLISH packets received, whether the device said DISCONNECT, the
    # protocol violation that ended it, and whether its keep-alive expired.
    messages_in = 0
    said_disconnect = False
    violation = ""
    timed_out = False
    # The outgoing queue's policy (BrokerOptions, set at CONNACK), and where this session stands: bytes
    # of deliveries still waiting in tasks, QoS 0 messages dropped, since when it has been behind.
    max_queued = 0
    slow_seconds = 0.0
    waiting_bytes = 0
    dropped = 0
    behind_since: float | None = None
    too_slow = False

    def queued(self) -> int:
        """Bytes on their way to this device: written but not yet taken by its socket, plus deliveries
        waiting in tasks (a QoS 1/2 message waiting its turn or its acknowledgement)."""
        written = self.writer.queued() if isinstance(self.writer, MeteredWriter) else 0
        return self.waiting_bytes + written

    def admit(self, qos: int) -> bool:
        """The outgoing queue's policy for one more message to this session; False: not sent.

        Within `max_queued` bytes, everything is sent. Past it, QoS 0 messages are dropped (QoS 1/2
        still queue: they were promised). A session that does not get back below half of it within
        `slow_seconds`, or goes past four times it, is too slow: nothing more is queued and the
        broker disconnects it (`too_slow` set).
        """
        if self.too_slow:
            return False
        queued = self.queued()
        if queued <= self.max_queued:
            # Caught up only once below half the limit: a device that takes just what the drops
            # leave room for hovers at the limit, and stays behind.
            if queued <= self.max_queued // 2:
                self.behind_since = None
            return True
        now = time.monotonic()
        if self.behind_since is None:
            self.behind_since = now
        if now - self.behind_since >= self.slow_seconds or queued > 4 * self.max_queued:
            self.too_slow = True
            return False
        if qos == QOS_0:
            self.dropped += 1
            return False
        return True

    def send_now(self, topic: str, data: bytes | bytearray) -> bool:
        """Write a QoS 0 message at once: no task, no lock, no drain (the queue policy bounds what
        waits in the socket's buffer). False when that cannot keep the order (a packet is waiting for
        the write lock) or the writer buffers until drain (WebSocket): send it the usual way."""
        transport = self.writer.transport() if isinstance(self.writer, MeteredWriter) else None
        if transport is None or self._write_lock.locked() or transport.is_closing():
            return False
        if self.prefix and topic.startswith(self.prefix):
            assert self.writer is not None
            self.writer.write(packets.qos0_publish(topic[len(self.prefix) :], data))
        return True  # not this tenant's topic: dropped, as mqtt_publish would

    def hold(self, task: "asyncio.Future[Any]", size: int) -> None:
        """Count a delivery task's bytes as queued until it finishes."""
        self.waiting_bytes += size

        def settled(_task: "asyncio.Future[Any]") -> None:
            self.waiting_bytes -= size

        task.add_done_callback(settled)

    def handle_publish(self, publish_packet: PublishPacket) -> Coroutine[Any, Any, None]:
        header = publish_packet.variable_header
        # Invalid topics ($, empty, wildcards) stay as they are: the broker ends the session on them.
        if header is not None and self.prefix and namespace.is_publishable(header.topic_name):
            header.topic_name = self.prefix + header.topic_name
        # amqtt's reader loop runs this in a task and cancels unfinished tasks when the connection
        # ends, so a QoS 0 PUBLISH that arrived with DISCONNECT and the close (mosquitto_pub over
        # TLS) was lost. A QoS 0 message is therefore queued here, synchronously and in order; the
        # broker delivers what is queued even after the connection has gone.
        if (
            publish_packet.qos == QOS_0
            and not publish_packet.dup_flag
            and self.session is not None
            and publish_packet.topic_name is not None
            and publish_packet.data is not None
        ):
            message = IncomingApplicationMessage(
                None, publish_packet.topic_name, QOS_0, publish_packet.data, publish_packet.retain_flag
            )
            message.publish_packet = publish_packet
            self.session.delivered_message_queue.put_nowait(message)
            return _nothing()
        return super().handle_publish(publish_packet)

    async def handle_subscribe(self, subscribe: SubscribePacket) -> None:
        if subscribe.payload is not None:
            # `$SYS/#` and other filters outside the namespace stay bare and get SUBACK 0x80.
            subscribe.payload.topics = [
                (self.prefix + f if self.prefix and namespace.is_subscribable(f) else f, qos)
                for f, qos in subscribe.payload.topics
            ]
        await super().handle_subscribe(subscribe)

    async def handle_unsubscribe(self, unsubscribe: UnsubscribePacket) -> None:
        if unsubscribe.payload is not None and self.prefix:
            unsubscribe.payload.topics = [self.prefix + f for f in unsubscribe.payload.topics]
        await super().handle_unsubscribe(unsubscribe)

    async def mqtt_publish(
        self,
        topic: str,
        data: bytes | bytearray,
        qos: int | None,
        retain: bool,
        ack_timeout: int | None = None,
    ) -> OutgoingApplicationMessage:
        if not self.prefix or not topic.startswith(self.prefix):
            return OutgoingApplicationMessage(None, topic, qos, data, retain)  # not this tenant's: dropped
        assert self.session is not None
        session = self.session
        packet_id = session.next_packet_id if qos in (QOS_1, QOS_2) else None
        message = OutgoingApplicationMessage(packet_id, topic[len(self.prefix) :], qos, data, retain)
        try:
            await self._handle_message_flow(message)
        except (asyncio.CancelledError, TimeoutError, AMQTTError, OSError) as exc:
            # Stock amqtt forgets a QoS 1/2 message whose acknowledgement did not come before the
            # connection ended, so a persistent session never got it again. Kept in flight here, it
            # is sent again, DUP set, when the session reconnects (`_retry_deliveries`).
            if packet_id is not None and not session.clean_session and not _acknowledged(message):
                session.inflight_out[packet_id] = message
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.info("%s did not acknowledge message %s in time: %s", session.client_id, packet_id, exc)
        return message

    async def _reader_loop(self) -> None:
        """amqtt's reader loop, rewritten for MQTT 3.1.1 conformance.

        Stock amqtt decoded straight from the socket and let protocol violations pass (QoS 3, `#` in
        a PUBLISH topic, reserved flags, a second CONNECT, unknown packet types all left the
        connection open), and handled DISCONNECT in a task that the end of the stream cancelled,
        so a client sending DISCONNECT and closing at once (TLS close_notify) had its will
        published. Here every packet is read whole and checked (packets.violation) before amqtt
        decodes it; any violation ends the connection, logged with its reason; DISCONNECT is
        handled in order, before anything that follows it on the socket.
        """
        assert self.session is not None and self._reader_ready is not None and self.reader is not None
        session, reader = self.session, self.reader
        running: deque[asyncio.Task[None]] = deque()
        keepalive = session.keep_alive if session.keep_alive and session.keep_alive > 0 else None
        disconnected = False
        while True:
            try:
                self._reader_ready.set()
                while running and running[0].done():
                    running.popleft()
                inbound = session.delivered_message_queue
                if isinstance(inbound, Inbound) and inbound.full_up():
                    await inbound.room()
                try:
                    packet = await asyncio.wait_for(read_packet(reader, self.max_payload), keepalive)
                except TimeoutError:
                    # Stock amqtt ignored an expired keep-alive (upstream issue #308). Closing like a
                    # dropped socket also publishes the will, as the specification asks.
                    log.info("closing %s: keep-alive expired", quoted(session.client_id))
                    self.timed_out = True
                    break
                if packet is None:
                    break
                if problem := packets.violation(packet, self.max_payload):
                    log.info("closing %s: protocol violation: %s", quoted(session.client_id), problem)
                    self.violation = problem
                    break
                if packet.type == packets.PUBLISH:
                    self.messages_in += 1
                header = MQTTFixedHeader(packet.type, packet.flags, len(packet.body))
                body = BufferReader(packet.body)
                decoded = await packet_class(header).from_stream(body, fixed_header=header)
                if isinstance(decoded, DisconnectPacket):
                    # The will is discarded now, whatever follows on the socket; what the client sent
                    # before DISCONNECT is handled first.
                    session.will_flag = False
                    if running:
                        await asyncio.wait(running, timeout=CLOSE_WAIT_SECONDS)
                    disconnected = self.said_disconnect = True
                    await self.handle_disconnect(decoded)
                    break
                if (handle := self._handlers().get(packet.type)) is not None:
                    running.append(asyncio.ensure_future(handle(decoded)))
            except asyncio.CancelledError:
                break
            except PacketTooLarge as exc:
                log.info("closing %s: %s", quoted(session.client_id), exc)
                self.violation = str(exc)
                break
            except (NoDataError, ConnectionError, OSError):
                break
            except Exception as exc:
                log.info("closing %s: malformed packet (%s)", quoted(session.client_id), quoted(exc))
                self.violation = "malformed packet"
                break
        if not disconnected:
            while running:
                running.popleft().cancel()
        await self.handle_connection_closed()
        self._reader_stopped.set()
        await self.stop()

    def _handlers(self) -> dict[int, Any]:
        return {
            packets.PUBLISH: self.handle_publish,
            packets.PUBACK: self.handle_puback,
            packets.PUBREC: self.handle_pubrec,
            packets.PUBREL: self.handle_pubrel,
            packets.PUBCOMP: self.handle_pubcomp,
            packets.SUBSCRIBE: self.handle_subscribe,
            packets.UNSUBSCRIBE: self.handle_unsubscribe,
            packets.PINGREQ: self.handle_pingreq,
        }


def _acknowledged(message: OutgoingApplicationMessage) -> bool:
    return bool(message.puback_packet if message.qos == QOS_1 else message.pubcomp_packet)


async def _nothing() -> None:
    return None


class CloudSignalBroker(Broker):
    def __init__(
        self, options: BrokerOptions, sockets: dict[str, socket.socket], ssl_context: ssl.SSLContext | None
    ) -> None:
        # The stock listener config is unused: our listeners are opened from already bound sockets.
        # No amqtt plugins: logins and topic checks are ours, and without the $SYS plugin there is no
        # broker-wide topic that could leak between tenants.
        super().__init__({"listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:0"}}, "plugins": {}})
        self.options = options
        self._bound_sockets = sockets
        self._ssl_context = ssl_context
        self.authenticator = Authenticator()
        self.acl = AclCache()
        self.registry = SessionRegistry()
        self.presence = Presence(self.registry.connections, options.control_socket)
        self.history = ConnectionHistory(options.history_days)
        self.throttle = Throttle()
        self.unauthenticated = Unauthenticated(options.unauthenticated_per_address)
        # Logins (argon2) and everything else in separate pools, so a login burst never delays a
        # revocation.
        self.login_pool = ThreadPool(options.login_threads, "broker-login", nice=10)
        self.control_pool = ThreadPool(2, "broker-control")
        self.login_queue = LoginQueue(
            self.login_pool,
            options.login_threads,
            max_waiting=options.login_queue,
            per_address=options.logins_per_address,
        )
        self.revoker = Revoker(
            self.registry, self.authenticator.verified, self.control_pool, end_session=self.end_session
        )
        self.hints = HintReceiver(options.control_socket, self.revoker, self.rules_changed, self.throttle)
        self.persistence = Persistence(self._session_record)
        self._broadcast_queue = asyncio.Queue[dict[str, Any]](maxsize=BROADCAST_LIMIT)
        # amqtt's dict of subscriptions, indexed by workspace and topic level.
        self._subscriptions = SubscriptionIndex()
        # Connections being closed for being too slow (a reference keeps each task alive).
        self._closing: set[asyncio.Future[None]] = set()

    @property
    def ports(self) -> dict[str, int]:
        return {name: sock.getsockname()[1] for name, sock in self._bound_sockets.items()}

    async def start(self) -> None:
        await self.hints.start()
        try:
            await self.presence.start()
            # Restored by _start_listeners: stock start() empties the broker's state first.
            self._stored: Stored | None = await self.persistence.load()
            self.persistence.start()
            await self.history.start()
            await super().start()
        except BaseException:
            await self.hints.stop()
            await self.persistence.stop()
            raise
        self._reconcile = asyncio.create_task(self._reconcile_forever(self.options.reconcile_seconds))

    async def shutdown(self) -> None:
        self._reconcile.cancel()
        await asyncio.gather(self._reconcile, return_exceptions=True)
        await self.hints.stop()
        # Everything persistent is saved before stock shutdown closes connections and forgets them.
        await self.persistence.save_all(
            [
                (key, *namespace.split_session_key(key))
                for key, (session, _handler) in self._sessions.items()
                if not session.clean_session
            ]
        )
        live = list(self.registry.connections.values())
        for conn in live:
            conn.end_reason = conn.end_reason or Reason.SHUTDOWN
        await super().shutdown()
        # Each connection's task writes its history record as it ends; give them a moment.
        if live:
            await asyncio.wait(
                [asyncio.create_task(c.closed.wait()) for c in live], timeout=CLOSE_WAIT_SECONDS
            )
        await self.persistence.stop()
        await self.presence.stop()
        await self.history.stop()
        self.login_pool.shutdown()
        self.control_pool.shutdown()

    # Listeners -------------------------------------------------------------------------------

    async def _start_listeners(self) -> None:
        # What the last run saved goes back before the first device can connect.
        if self._stored is not None:
            await self._restore(self._stored)
            self._stored = None
        for listener in self.options.listeners:
            sock = self._bound_sockets[listener.name]
            context = self._ssl_context if listener.tls else None
            instance: Any
            if listener.websocket:
                instance = await websockets.serve(
                    partial(self.ws_connected, listener_name=listener.name),
                    sock=sock,
                    ssl=context,
                    subprotocols=[websockets.Subprotocol("mqtt")],
                    process_request=_only_mqtt_path,
                    max_size=packets.max_packet_size(self.options.max_payload_size),
                    ping_interval=None,  # MQTT has its own keep-alive
                    # Devices often drop the TCP connection without a closing handshake.
                    close_timeout=1,
                )
            else:
                instance = await asyncio.start_server(
                    partial(self.stream_connected, listener_name=listener.name),
                    sock=sock,
                    ssl=context,
                    ssl_handshake_timeout=self.options.connect_timeout if context else None,
                )
            self._servers[listener.name] = Server(listener.name, instance, self.options.max_connections)

    # The connection path ------------------------------------------------------------------------

    async def _client_connected(
        self, listener_name: str, reader: ReaderAdapter, writer: WriterAdapter
    ) -> None:
        # Stock amqtt released the connection slot only on its own exception types, so truncated
        # CONNECTs leaked slots until nobody could connect. Here every path releases it.
        server = self._servers[listener_name]
        peer = writer.get_peer_info()
        if peer is None:
            await _close_quietly(writer)
            return
        # Counted before taking a slot, so sockets over one address's cap never hold one.
        ticket = self.unauthenticated.enter(str(peer[0]))
        if ticket is None:
            log.debug("too many sockets not logged in from %s; closing one", peer[0])
            await _close_quietly(writer)
            return
        await server.acquire_connection()
        try:
            await self._serve(listener_name, ticket, reader, writer)
        except Exception:
            log.debug("connection on %s ended with an error", listener_name, exc_info=True)
        finally:
            ticket.leave()
            server.release_connection()
            await _close_quietly(writer)

    async def _serve(
        self, listener_name: str, ticket: Ticket, raw_reader: ReaderAdapter, raw_writer: WriterAdapter
    ) -> None:
        remote_address = ticket.address
        # Metered for the connection history: bytes and PUBLISH packets each way.
        reader, writer = MeteredReader(raw_reader), MeteredWriter(raw_writer)
        incoming_connect = await self._read_connect(remote_address, reader, writer)
        if incoming_connect is None:
            return
        handler, incoming = incoming_connect

        outcome = await self._check_login(listener_name, remote_address, incoming, raw_reader, raw_writer)
        if isinstance(outcome, Refusal):
            await _refuse(writer, outcome.code)
            return
        login, hints_before = outcome
        # A revocation that commits while we verify finds no session to end. So: announce the login
        # as pending (from now on hints mark it revoked), and if any hint arrived meanwhile, read the
        # row once more. Whatever commits later finds the pending login or the session.
        pending = self.registry.begin_login(login)
        try:
            refusal = await self._recheck(login, reread=self.revoker.hints_received != hints_before)
            if refusal is None and pending.revoked:
                refusal = Refusal(BAD_USERNAME_OR_PASSWORD, "revoked while logging in")
            if refusal is not None:
                log.info(
                    "login refused for %s from %s: %s",
                    quoted(incoming.username),
                    remote_address,
                    refusal.reason,
                )
                await _refuse(writer, refusal.code)
                return
            pending.accepted = True
            conn = await self._admit(listener_name, remote_address, reader, writer, handler, incoming, login)
        finally:
            self.registry.end_login(pending)
        if conn is None:
            return
        ticket.leave()
        conn.meter_in, conn.meter_out = reader, writer
        try:
            if pending.revoked:
                await self.end_session(conn.key, purge=True, owner=login)
            self.presence.connected(conn)
            await self._deliver_queued(conn)
            await self._client_message_loop(conn.session, conn.handler)
            await self._deliver_last_words(conn)
        finally:
            self.registry.remove(conn)
            self.presence.disconnected(conn)
            # Stock amqtt removed a clean session only in a once-a-second monitor, so a
            # `clean_session=0` reconnect within that second inherited its subscriptions.
            if conn.session.clean_session and self._sessions.get(conn.key, (None,))[0] is conn.session:
                await self._cleanup_session(conn.key)
            elif not conn.session.clean_session:
                self._session_changed(conn.key)  # with what is still in flight
            self.history.record(_ended(conn))
            conn.closed.set()

    async def _check_login(
        self,
        listener_name: str,
        remote_address: str,
        incoming: Session,
        reader: ReaderAdapter,
        writer: WriterAdapter,
    ) -> tuple[Login, int] | Refusal:
        """The password check, behind the throttle and the bounded queue. Returns the login and the
        count of revocation hints before it began, or the refusal to send."""
        parsed = split_username(incoming.username)
        org, name = parsed[::-1] if parsed else (None, incoming.username or "")
        blocked = self.throttle.blocked(org, name, remote_address)
        if blocked is not None:
            # No log line per refusal: a guesser would flood the log. The back-off's start is logged.
            return Refusal(SERVER_UNAVAILABLE, f"throttled ({blocked.kind})")
        # Authenticate before anything else: stock amqtt let a failed login take over or wipe the
        # session of the client id it named, and left a ghost session behind.
        hints_before = self.revoker.hints_received
        # A warm login (this password verified before, nothing changed since) is answered from memory:
        # no database, no argon2, no place in the login queue. Any other password takes the full path,
        # so failures are still verified, timed and throttled alike.
        if parsed is not None and incoming.password is not None:
            warm = self.authenticator.verified.login_for(parsed[1], parsed[0], incoming.password)
            if warm is not None:
                self.throttle.succeeded(org, name, remote_address)
                return warm, hints_before
        try:
            outcome = await self.login_queue.run(
                remote_address,
                partial(hung_up, reader, writer),
                self.authenticator.check,
                incoming.username,
                incoming.password,
            )
        except QueueFull:
            return Refusal(SERVER_UNAVAILABLE, "login queue full")
        except HungUp:
            return Refusal(SERVER_UNAVAILABLE, "hung up before its turn")
        if isinstance(outcome, Login):
            self.throttle.succeeded(org, name, remote_address)
            return outcome, hints_before
        log.info(
            "login refused for %s from %s: %s", quoted(incoming.username), remote_address, outcome.reason
        )
        if outcome.code == SERVER_UNAVAILABLE:
            return outcome  # not the device's fault
        starts = self.throttle.failed(
            org,
            name,
            remote_address,
            unknown=outcome.client_pk is None and outcome.code == BAD_USERNAME_OR_PASSWORD,
        )
        if starts:
            log.info("throttling %s from %s", quoted(incoming.username), remote_address)
        if outcome.client_pk is not None:
            refused = partial(
                Ended,
                outcome.client_pk,
                timezone.now(),
                remote_address=remote_address,
                listener=listener_name,
                mqtt_client_id=incoming.client_id or "",
                accepted=False,
            )
            if outcome.code == NOT_AUTHORIZED:
                self.history.record(refused(Reason.DISABLED))
            if starts:
                self.history.record(refused(Reason.THROTTLED))
        return outcome

    async def _read_connect(
        self, remote_address: str, reader: ReaderAdapter, writer: WriterAdapter
    ) -> tuple[BrokerProtocolHandler, Session] | None:
        """The first packet, within `connect_timeout`: a CONNECT of MQTT 3.1.1, decoded; or None, the
        connection answered as MQTT 3.1.1 asks (CONNACK 0x01 for another protocol level) and logged."""
        try:
            first = await asyncio.wait_for(
                read_packet(reader, self.options.max_payload_size), self.options.connect_timeout
            )
        except TimeoutError:
            log.info("no CONNECT from %s within %ss", remote_address, self.options.connect_timeout)
            return None
        except (PacketTooLarge, NoDataError, OSError) as exc:
            log.info("bad CONNECT from %s: %s", remote_address, exc or type(exc).__name__)
            return None
        if first is None:
            return None
        if problem := packets.connect_violation(first):
            log.info("closing connection from %s: protocol violation: %s", remote_address, problem)
            return None
        protocol = packets.protocol_of(first)
        if protocol != ("MQTT", 4):
            # MQTT 5 (and 3.1, "MQIsdp" level 3) are refused with CONNACK 0x01 "unacceptable protocol
            # level" at once: stock amqtt misread an MQTT 5 CONNECT and waited out the timeout.
            log.info("CONNECT from %s refused: protocol %r is not MQTT 3.1.1", remote_address, protocol)
            if protocol is not None and protocol[0] in ("MQTT", "MQIsdp"):
                await _refuse(writer, UNACCEPTABLE_PROTOCOL_VERSION)
            return None
        try:
            connect = BufferReader(first.wire())
            return await TenantHandler.init_from_connect(connect, writer, self.plugins_manager)
        except (AMQTTError, MQTTError, NoDataError, ValueError, UnicodeDecodeError) as exc:
            # Including a zero-length client id with clean_session=0: amqtt has sent CONNACK 0x02.
            log.info("bad CONNECT from %s: %s", remote_address, quoted(exc))
        except Exception as exc:
            log.info("malformed CONNECT from %s: %s", remote_address, quoted(repr(exc)))
        return None

    async def _deliver_queued(self, conn: LiveConnection) -> None:
        """Send what a persistent session queued while it was away, each message checked against the
        rules as they are now (a rule added since it was queued applies to it)."""
        session, handler = conn.session, conn.handler
        tasks = []
        while not session.retained_messages.empty():
            queued = session.retained_messages.get_nowait()
            if self._receive_allowed(session, queued.topic):
                tasks.append(
                    asyncio.ensure_future(handler.mqtt_publish(queued.topic, queued.data, queued.qos, False))
                )
        if tasks:
            self._session_changed(conn.key)
            await asyncio.wait(tasks)

    async def _deliver_last_words(self, conn: LiveConnection) -> None:
        """Deliver what the device published before it went but the message loop had not taken
        (a reading sent together with DISCONNECT). A kicked session's messages are dropped."""
        queue = conn.session.delivered_message_queue
        while not queue.empty():
            message = queue.get_nowait()
            if conn.kicked:
                continue
            taken: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            taken.set_result(message)
            await self._handle_message_delivery(conn.session, conn.handler, taken)

    async def _recheck(self, login: Login, *, reread: bool) -> Refusal | None:
        """The credential is still what we verified (`reread`), and its workspace's ACL policy is
        loaded. No database work at all in the common case: a warm reconnect."""
        missing = self.acl.missing([login.workspace_id])
        if not reread and not missing:
            return None

        def read() -> tuple[Credential | None, dict[int, Any]]:
            row = current_credentials([login.client_pk]).get(login.client_pk) if reread else None
            return row, self.acl.load(missing)

        try:
            row, policies = await self.control_pool.run(read)
        except db.Error:
            return Refusal(SERVER_UNAVAILABLE, "database unavailable")
        self.acl.install(policies)
        if reread and not still_allowed(login, row):
            return Refusal(BAD_USERNAME_OR_PASSWORD, "revoked while logging in")
        return None

    async def _admit(
        self,
        listener_name: str,
        remote_address: str,
        reader: ReaderAdapter,
        writer: WriterAdapter,
        handler: BrokerProtocolHandler,
        incoming: Session,
        login: Login,
    ) -> LiveConnection | None:
        device_client_id = incoming.client_id or gen_client_id()
        # Stock amqtt never checked will topics: a will could land in any topic of any tenant.
        if incoming.will_flag:
            will_topic = incoming.will_topic or ""
            if not namespace.is_publishable(will_topic) or not self.acl.allows(
                login, device_client_id, PUBLISH, will_topic
            ):
                log.info("will topic %s refused for %s", quoted(will_topic), quoted(incoming.username))
                await _refuse(writer, NOT_AUTHORIZED)
                return None
            incoming.will_topic = namespace.topic_prefix(login.workspace_id) + will_topic
        return await self._open_session(
            listener_name, remote_address, reader, writer, handler, incoming, login, device_client_id
        )

    async def _open_session(
        self,
        listener_name: str,
        remote_address: str,
        reader: ReaderAdapter,
        writer: WriterAdapter,
        handler: BrokerProtocolHandler,
        incoming: Session,
        login: Login,
        device_client_id: str,
    ) -> LiveConnection | None:
        # Client ids are per workspace: `dev` in one workspace never meets `dev` in another.
        key = namespace.session_key(login.workspace_id, device_client_id)
        if (previous := self.registry.connections.get(key)) is not None:
            if login.bind_client_ids and previous.login.client_pk != login.client_pk:
                # Bound to its credential: another credential of the workspace cannot take it over.
                log.info("client id %s is held by another credential; refused", quoted(key))
                self.history.record(
                    Ended(
                        login.client_pk,
                        timezone.now(),
                        Reason.CLIENT_ID_IN_USE,
                        remote_address,
                        listener_name,
                        device_client_id,
                        accepted=False,
                    )
                )
                await _refuse(writer, IDENTIFIER_REJECTED)
                return None
            log.info("client id %s connected again; closing the older connection", quoted(key))
            previous.end_reason = previous.end_reason or Reason.TAKEN_OVER
            await self._close_connection(previous)

        stored = self._sessions.get(key)
        owner = self.registry.owners.get(key)
        # A stored session belongs to the credential that made it: another credential using the same
        # client id starts afresh rather than inheriting subscriptions its own rules never granted.
        # So does the same credential after a reset (a new credential_version).
        if (
            incoming.clean_session
            or stored is None
            or owner is None
            or owner.client_pk != login.client_pk
            or owner.credential_version != login.credential_version
        ):
            await self._delete_session(key)
            session = incoming
            session.parent = 0
        else:
            session = stored[0]
            for name in (
                "will_flag",
                "will_message",
                "will_topic",
                "will_qos",
                "will_retain",
                "clean_session",
            ):
                setattr(session, name, getattr(incoming, name))
            session.parent = 1
        if session.delivered_message_queue.empty():
            session.delivered_message_queue = Inbound(INBOUND_LIMIT)
        session.client_id = key
        session.username = incoming.username
        session.password = None  # not needed past the login; keep it out of memory dumps
        session.remote_address = incoming.remote_address
        session.remote_port = incoming.remote_port
        session.keep_alive = math.ceil(incoming.keep_alive * KEEPALIVE_GRACE)
        try:
            session.transitions.connect()
        except MachineError:
            # The previous connection did not finish in time; it is closed, so mark it so.
            session.transitions.disconnect()
            session.transitions.connect()

        assert isinstance(handler, TenantHandler)
        handler.prefix = namespace.topic_prefix(login.workspace_id)
        handler.max_payload = self.options.max_payload_size
        handler.max_queued = self.options.max_queued_bytes
        handler.slow_seconds = self.options.slow_seconds
        handler.attach(session, reader, writer)
        self._sessions[key] = (session, handler)
        self.registry.owners[key] = login
        if not session.clean_session:
            self._session_changed(key)
        try:
            await handler.mqtt_connack_authorize(True)
            await handler.start()
        except BaseException:
            # The socket failed between CONNACK and start: leave no "connected" session behind.
            session.transitions.disconnect()
            if session.clean_session:
                await self._cleanup_session(key)
            raise
        conn = LiveConnection(
            key=key,
            device_client_id=device_client_id,
            login=login,
            listener=listener_name,
            remote_address=remote_address,
            session=session,
            handler=handler,
        )
        self.registry.add(conn)
        return conn

    async def _close_connection(self, conn: LiveConnection, *, publish_will: bool = True) -> None:
        if not publish_will:
            # A revoked client's will must not be published, nor what it sent in its last moments.
            conn.session.will_flag = False
            conn.kicked = True
        await conn.handler.handle_connection_closed()
        try:
            await asyncio.wait_for(conn.closed.wait(), CLOSE_WAIT_SECONDS)
        except TimeoutError:
            log.warning("connection %s did not close within %ss", conn.key, CLOSE_WAIT_SECONDS)

    async def end_session(self, key: str, *, purge: bool, owner: Login, reason: str = Reason.ADMIN) -> int:
        """Close the live connection of session `key`, if any; with `purge`, also drop its
        subscriptions and queued messages. `reason` goes to its history. Returns the number of
        connections closed (0 or 1)."""
        conn = self.registry.connections.get(key)
        closed = 0
        if conn is not None and conn.login == owner:
            if conn.kicked:
                # Another path (a hint, reconciliation) is ending it and counts it: wait, don't count.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(conn.closed.wait(), CLOSE_WAIT_SECONDS)
            else:
                conn.end_reason = conn.end_reason or reason
                await self._close_connection(conn, publish_will=False)
                closed = 1
        if purge and self.registry.owners.get(key) == owner:
            await self._cleanup_session(key)
        return closed

    async def _reconcile_forever(self, interval: float) -> None:
        """The safety net under hints: every few seconds, every stored session against the database
        (revocation.py), and the retained messages of deleted workspaces forgotten."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reconcile()
            except Exception:
                log.warning("reconciliation failed; trying again in %ss", interval, exc_info=True)

    async def reconcile(self) -> int:
        """One round of the safety net. Returns the live connections it ended."""
        verified = self.authenticator.verified
        # Warm logins skip the database, so remembered credentials are checked here too, for a hint
        # that was lost.
        if len(verified):
            verified.forget(await self.control_pool.run(verified.stale))
        ended = await self.revoker.reconcile()
        await self._forget_deleted_workspaces()
        return ended

    async def _forget_deleted_workspaces(self) -> None:
        held = {ws for t in self._retained_messages if (ws := namespace.workspace_of_topic(t)) is not None}
        if not held:
            return
        existing = await self.control_pool.run(
            lambda: set(Workspace.objects.filter(pk__in=held).values_list("pk", flat=True))
        )
        gone = tuple(namespace.topic_prefix(ws) for ws in held - existing)
        if gone:
            for topic in [t for t in self._retained_messages if t.startswith(gone)]:
                del self._retained_messages[topic]

    # Session bookkeeping ----------------------------------------------------------------------

    async def _cleanup_session(self, client_id: str) -> None:
        persistent = self._is_persistent(client_id)
        await super()._cleanup_session(client_id)
        self.registry.owners.pop(client_id, None)
        if persistent:
            self._session_changed(client_id)

    async def _delete_session(self, client_id: str) -> None:
        persistent = self._is_persistent(client_id)
        await super()._delete_session(client_id)
        self.registry.owners.pop(client_id, None)
        if persistent:
            self._session_changed(client_id)

    def _is_persistent(self, key: str) -> bool:
        entry = self._sessions.get(key)
        return entry is not None and not entry[0].clean_session

    async def add_subscription(self, subscription: tuple[str, int], session: Session) -> int:
        granted = await super().add_subscription(subscription, session)
        if not session.clean_session and session.client_id:
            self._session_changed(session.client_id)
        return granted

    def _del_subscription(self, a_filter: str, session: Session) -> int:
        deleted = super()._del_subscription(a_filter, session)
        if deleted and not session.clean_session and session.client_id:
            self._session_changed(session.client_id)
        return deleted

    # Persistence --------------------------------------------------------------------------------

    def _session_changed(self, key: str) -> None:
        workspace_id, device_client_id = namespace.split_session_key(key)
        self.persistence.session_changed(key, workspace_id, device_client_id)

    def _session_record(self, key: str) -> SessionRecord | None:
        """The persistent session `key` as it is now, for the database; None if it is gone or clean."""
        entry = self._sessions.get(key)
        login = self.registry.owners.get(key)
        if entry is None or login is None or entry[0].clean_session:
            return None
        session = entry[0]
        prefix = namespace.topic_prefix(login.workspace_id)
        # asyncio.Queue has no way to look without taking; its deque is read, never changed.
        queued = list(getattr(session.retained_messages, "_queue", ()))
        return SessionRecord(
            workspace_id=login.workspace_id,
            device_client_id=namespace.split_session_key(key)[1],
            client_pk=login.client_pk,
            credential_version=login.credential_version,
            subscriptions=[
                (topic_filter[len(prefix) :], qos)
                for topic_filter, subscribers in self._subscriptions.items()
                if topic_filter.startswith(prefix)
                for subscriber, qos in subscribers
                if subscriber.client_id == key
            ],
            queued=[
                (m.topic[len(prefix) :], bytes(m.data), m.qos or 0)
                for m in queued
                if m.topic.startswith(prefix) and m.data is not None
            ],
            inflight=[
                InFlight(packet_id, m.topic, bytes(m.data), m.qos or 0, m.pubrel_packet is not None)
                for packet_id, m in session.inflight_out.items()
                if m.data is not None
            ],
        )

    async def _restore(self, stored: Stored) -> None:
        """Put back what the last run saved, before any listener opens: retained messages, and each
        persistent session, disconnected, with its subscriptions, queue and in-flight messages. A
        session whose credential is gone or changed since is ended by the first reconciliation."""
        for retained in stored.retained:
            topic = namespace.topic_prefix(retained.workspace_id) + retained.topic
            self._retained_messages[topic] = RetainedApplicationMessage(
                None, topic, retained.payload, retained.qos
            )
        for record in stored.sessions:
            owner = stored.owners.get(record.client_pk)
            key = namespace.session_key(record.workspace_id, record.device_client_id)
            if owner is None or owner[0] != record.workspace_id or owner[3] != record.credential_version:
                # The credential went, was disabled, moved or reset while the broker was down.
                self._session_changed(key)
                continue
            workspace_id, organization_id, username, _version = owner
            prefix = namespace.topic_prefix(workspace_id)
            session = Session()
            session.client_id = key
            session.clean_session = False
            session.username = f"{username}@{organization_id}"
            session.transitions.disconnect()
            for topic, payload, qos in record.queued:
                session.retained_messages.put_nowait(
                    RetainedApplicationMessage(None, prefix + topic, payload, qos)
                )
            for m in record.inflight:
                message = OutgoingApplicationMessage(m.packet_id, m.topic, m.qos, m.payload, False)
                message.publish_packet = message.build_publish_packet()
                if m.released:
                    message.pubrec_packet = PubrecPacket.build(m.packet_id)
                    message.pubrel_packet = PubrelPacket.build(m.packet_id)
                session.inflight_out[m.packet_id] = message
            self._sessions[key] = (session, None)
            self.registry.owners[key] = Login(
                client_pk=record.client_pk,
                credential_version=record.credential_version,
                workspace_id=workspace_id,
                organization_id=organization_id,
                username=username,
            )
            for topic_filter, qos in record.subscriptions:
                self._subscriptions.setdefault(prefix + topic_filter, []).append((session, qos))
        # Deliveries to restored sessions are checked against their workspaces' rules.
        workspaces = sorted({login.workspace_id for login in self.registry.owners.values()})
        if workspaces:
            self.acl.install(await self.control_pool.run(self.acl.load, workspaces))
        if stored.retained or stored.sessions:
            log.info(
                "restored %d retained messages and %d persistent sessions",
                len(stored.retained),
                len(stored.sessions),
            )

    async def retain_message(
        self,
        source_session: Session | None,
        topic_name: str | None,
        data: bytes | bytearray | None,
        qos: int | None = None,
    ) -> None:
        await super().retain_message(source_session, topic_name, data, qos)
        workspace_id = namespace.workspace_of_topic(topic_name or "")
        if workspace_id is not None and topic_name is not None:
            device_topic = topic_name[len(namespace.topic_prefix(workspace_id)) :]
            self.persistence.retained_changed(workspace_id, device_topic, bytes(data or b""), qos or 0)

    # Messages -----------------------------------------------------------------------------------

    async def _handle_message_delivery(
        self, client_session: Session, handler: BrokerProtocolHandler, wait_deliver: asyncio.Future[Any]
    ) -> bool:
        message = wait_deliver.result()
        if message is None:
            return True
        prefix = getattr(handler, "prefix", "")
        if not prefix or not message.topic.startswith(prefix):
            # A `$`, empty or wildcard topic. Stock amqtt stopped reading but left the connection open
            # (a zombie); close it like a dropped socket.
            log.info(
                "%s published to invalid topic %s; closing",
                quoted(client_session.client_id),
                quoted(message.topic),
            )
            if (conn := self.registry.connections.get(client_session.client_id or "")) is not None:
                conn.end_reason, conn.end_detail = Reason.PROTOCOL, "publish to an invalid topic"
            await handler.handle_connection_closed()
            return True
        if not await self._topic_filtering(client_session, message.topic, Action.PUBLISH):
            return True  # denied: acknowledged (QoS 1/2) and dropped, as MQTT 3.1.1 has no refusal
        # The publish QoS travels with the message: each subscriber gets min(publish, subscription).
        await self._broadcast_message(client_session, message.topic, message.data, message.qos)
        if message.publish_packet is not None and message.publish_packet.retain_flag:
            await self.retain_message(client_session, message.topic, message.data, message.qos)
        return True

    async def _run_broadcast(self, running_tasks: Any) -> None:
        broadcast = await self._broadcast_queue.get()
        topic, data = broadcast["topic"], broadcast["data"]
        publish_qos = broadcast.get("qos")
        # Only the filters of the topic's workspace that could match it (subscriptions.py): stock
        # amqtt matched every filter of every tenant, level by level.
        for _filter, subscriptions in list(self._subscriptions.matching(topic)):
            for target, subscription_qos in list(subscriptions):
                # Stock amqtt delivered at the subscription QoS whatever the publish QoS was.
                qos = subscription_qos if publish_qos is None else min(publish_qos, subscription_qos)
                if not self._receive_allowed(target, topic):
                    continue
                connected = target.transitions.state == "connected"
                if not connected:
                    if not target.clean_session and qos in (QOS_1, QOS_2):
                        await self._retain_broadcast_message(broadcast, qos, target)
                        if target.client_id:
                            self._session_changed(target.client_id)
                    continue
                handler = self._get_handler(target)
                if not isinstance(handler, TenantHandler):
                    continue
                # Stock amqtt queued without bound for a device that stopped reading.
                if not handler.admit(qos):
                    if handler.too_slow:
                        self._disconnect_too_slow(target, handler)
                    continue
                # QoS 0 is written at once; stock amqtt made a task per message per subscriber.
                if qos == QOS_0 and handler.send_now(topic, data):
                    continue
                task = asyncio.ensure_future(handler.mqtt_publish(topic, data, qos, False))
                handler.hold(task, len(data))
                running_tasks.append(task)

    def _disconnect_too_slow(self, session: Session, handler: TenantHandler) -> None:
        conn = self.registry.connections.get(session.client_id or "")
        if conn is None or conn.handler is not handler or conn.end_reason:
            return
        conn.end_reason = Reason.TOO_SLOW
        conn.end_detail = f"{handler.queued():,} bytes waiting; {handler.dropped:,} QoS 0 messages dropped"
        log.info("closing %s: too slow (%s)", quoted(conn.key), conn.end_detail)
        # Dropped, not flushed: what waits for it is what it could not take. Its reader loop then
        # ends as for a lost connection (its will is published).
        transport = handler.writer.transport() if isinstance(handler.writer, MeteredWriter) else None
        if transport is not None:
            transport.abort()
            return
        closing = asyncio.ensure_future(self._close_connection(conn))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        # Stock amqtt replayed retained messages for every subscription in the broker, on every
        # CONNECT, with no ACL check. Here: only for this new subscription, only what may be received.
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        if handler is None:
            return
        tasks = [
            asyncio.ensure_future(
                handler.mqtt_publish(
                    topic, retained.data, min(qos, retained.qos if retained.qos is not None else qos), True
                )
            )
            for topic, retained in list(self._retained_messages.items())
            if self._matches(topic, topic_filter) and self._receive_allowed(session, topic)
        ]
        if tasks:
            await asyncio.wait(tasks)

    async def _handle_disconnect(
        self, client_session: Session, handler: BrokerProtocolHandler, disconnect_waiter: asyncio.Future[Any]
    ) -> None:
        # The will was allowed at CONNECT; the rules may have changed since.
        will_topic = client_session.will_topic
        if client_session.will_flag and not (
            will_topic and self._allowed(client_session, will_topic, PUBLISH)
        ):
            client_session.will_flag = False
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)

    # Topic checks -------------------------------------------------------------------------------

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        if action == Action.RECEIVE:
            return self._receive_allowed(session, topic)
        return self._allowed(session, topic, PUBLISH if action == Action.PUBLISH else SUBSCRIBE)

    def _receive_allowed(self, session: Session, topic: str) -> bool:
        # Receiving a topic is allowed when subscribing to exactly that topic would be.
        return self._allowed(session, topic, SUBSCRIBE)

    def _allowed(self, session: Session, topic: str, action: str) -> bool:
        key = session.client_id or ""
        login = self.registry.owners.get(key)
        if login is None:
            return False
        prefix = namespace.topic_prefix(login.workspace_id)
        if not topic.startswith(prefix):
            return False
        return self.acl.allows(login, namespace.split_session_key(key)[1], action, topic[len(prefix) :])

    async def rules_changed(self, workspace_ids: list[int]) -> None:
        """Reload these workspaces' ACL policies and drop subscriptions they no longer allow."""
        loaded = set(workspace_ids) & {login.workspace_id for login in self.registry.owners.values()}
        # Workspaces nobody here belongs to are forgotten; their next login loads them fresh.
        self.acl.forget(set(workspace_ids) - loaded)
        if not loaded:
            return
        self.acl.install(await self.control_pool.run(self.acl.load, sorted(loaded)))
        prefixes = tuple(namespace.topic_prefix(ws) for ws in loaded)
        for topic_filter in [f for f in self._subscriptions if f.startswith(prefixes)]:
            for session, _qos in list(self._subscriptions.get(topic_filter, [])):
                if not self._allowed(session, topic_filter, SUBSCRIBE):
                    log.info("rules changed: %s loses its subscription %s", session.client_id, topic_filter)
                    self._del_subscription(topic_filter, session)
            if not self._subscriptions.get(topic_filter):
                self._subscriptions.pop(topic_filter, None)


def _ended(conn: LiveConnection) -> Ended:
    """The history record of a connection that just ended: why, and what it carried."""
    meter_in, meter_out = conn.meter_in, conn.meter_out
    reason, detail = conn.end_reason, conn.end_detail
    handler = conn.handler
    if not reason:
        if isinstance(handler, TenantHandler) and handler.violation:
            reason, detail = Reason.PROTOCOL, handler.violation
        elif isinstance(handler, TenantHandler) and handler.timed_out:
            reason = Reason.KEEPALIVE
        elif isinstance(handler, TenantHandler) and handler.said_disconnect:
            reason = Reason.DISCONNECTED
        else:
            reason = Reason.CONNECTION_LOST
    return Ended(
        conn.login.client_pk,
        conn.connected_since,
        reason,
        conn.remote_address,
        conn.listener,
        conn.device_client_id,
        bytes_in=meter_in.bytes_in if meter_in else 0,
        bytes_out=meter_out.bytes_out if meter_out else 0,
        messages_in=handler.messages_in if isinstance(handler, TenantHandler) else 0,
        messages_out=meter_out.messages_out if meter_out else 0,
        detail=detail,
    )


def _only_mqtt_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?", 1)[0] != WEBSOCKET_PATH:
        return connection.respond(
            HTTPStatus.NOT_FOUND, f"MQTT over WebSocket is served at {WEBSOCKET_PATH}\n"
        )
    return None


async def _refuse(writer: WriterAdapter, code: int) -> None:
    with contextlib.suppress(OSError, AMQTTError):
        await ConnackPacket.build(0, code).to_stream(writer)


async def _close_quietly(writer: WriterAdapter) -> None:
    try:
        await asyncio.wait_for(writer.close(), CLOSE_WAIT_SECONDS)
    except TimeoutError:
        # A peer that stopped reading: drop the socket without flushing.
        transport = getattr(getattr(writer, "_writer", None), "transport", None)
        if transport is not None:
            transport.abort()
    except (OSError, AMQTTError, websockets.WebSocketException):
        pass
    except Exception:
        log.debug("closing a connection failed", exc_info=True)
