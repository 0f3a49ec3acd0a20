// The browser side of django-turbo-streams: the <turbo-channels-stream-source>
// element. docs/protocol.rst specifies the frames and docs/client.rst how to
// use it.
//
// Load it with <script type="module"> after Turbo. Every element is a Turbo
// stream source; all elements with the same `url` share one websocket, and
// all elements with the same `stream` share one subscription on it.

const ELEMENT_NAME = "turbo-channels-stream-source";

// How long a stream that lost its last element stays subscribed, so that a
// Turbo Drive visit to a page with the same stream, or a moved
// data-turbo-permanent element, keeps it without unsubscribing and
// subscribing again.
const UNSUBSCRIBE_DELAY = 1000;
// How the client reconnects, in seconds (fast-attempts: sockets). A page sets
// its own with <meta name="turbo-channels-reconnect" content="slow-delay=120">.
// A socket fails when it closes before opening, or within stable-after of
// opening. The wait after a socket that did not fail is random, up to spread:
// a server that goes away takes all its pages with it, and they come back to
// the others spread over that window rather than all within half a second,
// which a server taking thousands of them cannot answer in time. After n
// failed sockets in a row it is first-delay * 2**n, up to max-delay; after
// fast-attempts failed sockets, the client tries every slow-delay, forever.
const RECONNECT_POLICY = Object.freeze({
  spread: 5,
  "first-delay": 0.5,
  "max-delay": 30,
  "fast-attempts": 10,
  "slow-delay": 60,
  "stable-after": 10,
});
const RECONNECT_META = 'meta[name="turbo-channels-reconnect"]';
// An expired token reloads the page at most once in this long (per URL).
const EXPIRED_RELOAD_INTERVAL = 10_000;
// The server closes a socket whose client leaves too much unacknowledged, and
// wants an ack at least every 64 KiB of frames, whatever their type: in UTF-8,
// a character of a JavaScript string is at most 3 bytes.
const ACK_INTERVAL_CHARS = 16 * 1024;

// Absolute websocket URL → Connection, while it holds streams.
const connections = new Map();

// One websocket URL: its socket and the streams subscribed on it.
class Connection {
  static for(url) {
    let connection = connections.get(url);
    if (!connection) {
      connection = new Connection(url);
      connections.set(url, connection);
    }
    return connection;
  }

  // Stream key → {key, token, sentToken, state, elements, unsubscribeTimer}.
  // state is "idle" (not subscribed on the current socket, if any),
  // "pending" (subscribe sent, no answer yet), "subscribed" or "rejected".
  // elements is the Set of counted elements: its size is the stream's count.
  #streams = new Map();
  #url;
  #socket = null;
  #socketListeners = null; // AbortController for the current socket's listeners
  #pageListeners = new AbortController(); // for those on window and document
  #retryTimer = 0;
  #failures = 0; // sockets in a row that failed: closed before opening, or soon after
  #slow = false; // retrying slowly: turbo-channels:failed was dispatched
  #received = 0; // frames received on the current socket
  #unackedChars = 0; // characters of those since the last ack

  constructor(url) {
    this.#url = url;
    // Back online, or back to the tab: try now rather than at the end of the wait.
    const options = { signal: this.#pageListeners.signal };
    window.addEventListener("online", () => this.#retryNow(), options);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.#retryNow();
    }, options);
  }

  // Counts an element in its stream, subscribing the stream if it is new.
  // Returns the stream, for remove().
  add(element, key, token) {
    let stream = this.#streams.get(key);
    if (!stream) {
      stream = {
        key, token, sentToken: null, state: "idle", elements: new Set(), unsubscribeTimer: 0,
        // {epoch, sequence}: where the page stands in the stream, the last
        // message applied or the position the page was rendered at.
        position: null,
        held: [], // messages received while subscribing, replaying, or missing one before them
        replays: 0, // replay frames sent and not answered yet
        replayOnSubscribed: false, // the page went back while the subscribe was unanswered
        unapplied: false, // a message came while the stream had no element
      };
      this.#streams.set(key, stream);
    }
    clearTimeout(stream.unsubscribeTimer);
    stream.elements.add(element);
    this.rendered(stream, parsePosition(element.getAttribute("position")));
    stream.token = token; // the newest token, for subscribing after a reconnect
    // Retrying a rejected token cannot help, but an element with another
    // token (the page was reloaded after `expired`, say) may succeed.
    if (stream.state === "rejected" && token !== stream.sentToken) this.#setState(stream, "idle");
    // Also clears a `connected` or `state` copied from Turbo's snapshot cache.
    reflectState(element, stream.state);

    if (this.#socket?.readyState === WebSocket.OPEN) {
      if (stream.state === "idle") this.#subscribe(stream);
    } else this.#openIfNeeded();
    return stream;
  }

  // Uncounts an element; unsubscribes the stream UNSUBSCRIBE_DELAY after its
  // count reaches 0, unless an element of it is added in the meantime.
  remove(element, stream) {
    stream.elements.delete(element);
    if (stream.elements.size === 0) {
      stream.unsubscribeTimer = setTimeout(() => this.#drop(stream), UNSUBSCRIBE_DELAY);
    }
  }

  // An element of the stream entered the page, or a morph changed its
  // `position`: the page around it was rendered at `position`. A page
  // rendered before messages the stream applied (a form that redirected back,
  // a layout's element on the next page, a snapshot from Turbo's cache), or
  // after messages that came while the stream had no element, lacks those:
  // the stream goes back to `position` and asks the server for what followed.
  rendered(stream, position) {
    if (!position) return;
    const current = stream.position;
    const ahead = !current || (current.epoch === position.epoch && current.sequence <= position.sequence);
    stream.position = position;
    if (ahead && !stream.unapplied) return;
    stream.unapplied = false;
    if (stream.state === "subscribed") this.#replay(stream);
    // The subscribe's answer replays from the position it was sent with.
    else if (stream.state === "pending") stream.replayOnSubscribed = true;
    // An idle stream subscribes from its position; a rejected one gets nothing.
  }

  // For window.TurboChannels.
  get debugState() {
    let state;
    if (this.#retryTimer) state = "waiting";
    else if (!this.#socket) state = "closed";
    else state = this.#socket.readyState === WebSocket.OPEN ? "open" : "connecting";
    const streams = {};
    for (const { key, state, elements } of this.#streams.values()) {
      streams[key] = { state, elements: elements.size };
    }
    return { url: this.#url, state, failures: this.#failures, slow: this.#slow, streams };
  }

  // For reloadForExpiredToken().
  get sentTokens() {
    return [...this.#streams.values()].map((stream) => stream.sentToken);
  }

  #drop(stream) {
    this.#streams.delete(stream.key);
    // A pending subscribe is answered before this unsubscribe is read.
    if (stream.state === "subscribed" || stream.state === "pending") {
      this.#send({ type: "unsubscribe", stream: stream.key });
    }
    if (this.#streams.size === 0) this.#close();
  }

  #close() {
    clearTimeout(this.#retryTimer);
    // Remove the listeners first, so the close event schedules no reconnect.
    this.#socketListeners?.abort();
    this.#socket?.close(1000);
    this.#pageListeners.abort();
    connections.delete(this.#url);
  }

  // Opens a socket if none is open or scheduled and a stream wants one.
  #openIfNeeded() {
    if (!this.#socket && !this.#retryTimer && this.#wantsSocket()) this.#open();
  }

  // Whether a stream may still subscribe: a rejected one waits for a new token.
  #wantsSocket() {
    return [...this.#streams.values()].some((stream) => stream.state !== "rejected");
  }

  // Skips the wait, not the backoff: if this socket fails too, the next wait
  // is as long as the skipped one would have been followed by.
  #retryNow() {
    if (!this.#retryTimer) return;
    clearTimeout(this.#retryTimer);
    this.#open();
  }

  #open() {
    this.#retryTimer = 0;
    const socket = (this.#socket = new WebSocket(this.#url));
    this.#socketListeners = new AbortController();
    const options = { signal: this.#socketListeners.signal };
    let openedAt = null;
    this.#received = this.#unackedChars = 0;
    socket.addEventListener("open", () => {
      openedAt = performance.now();
      if (this.#slow) {
        this.#slow = false;
        document.dispatchEvent(new CustomEvent("turbo-channels:reconnected", { detail: { url: this.#url } }));
      }
      for (const stream of this.#streams.values()) {
        if (stream.state === "idle") this.#subscribe(stream);
      }
    }, options);
    socket.addEventListener("message", (event) => this.#receive(event.data), options);
    socket.addEventListener("close", (event) => this.#closed(event, openedAt), options);
  }

  // The socket is gone: every stream it held waits for the next one, a
  // rejected one too when `retryRejected`.
  #forgetSocket(retryRejected) {
    this.#socketListeners.abort();
    this.#socket = null;
    for (const stream of this.#streams.values()) {
      stream.held = []; // subscribing again from the position replays them
      stream.replays = 0;
      stream.replayOnSubscribed = false;
      if (retryRejected || stream.state !== "rejected") this.#setState(stream, "idle");
    }
  }

  // The server's `reconnect` frame: the browser's session changed (a login or
  // a logout, in this tab or another), and the socket, authenticated at its
  // handshake, stays with the old user. A new socket's handshake carries the
  // current cookies. This is no failure, so it neither waits nor backs off.
  #reconnect(reason) {
    const socket = this.#socket;
    // What was refused to the old user (a subscribe that raced a login, say)
    // may pass for the new one.
    this.#forgetSocket(true);
    socket.close(1000);
    document.dispatchEvent(new CustomEvent("turbo-channels:session-changed", { detail: { url: this.#url, reason } }));
    if (this.#wantsSocket()) this.#open();
  }

  #closed({ code, reason }, openedAt) {
    this.#forgetSocket(false);
    if (code >= 4000) {
      console.warn(`turbo-channels: the server closed the websocket with code ${code} (${reason || "no reason"}).`);
    }
    const policy = reconnectPolicy();
    // One closed soon after opening (rate limited, too slow, a server failing
    // at each connection) backs off like one that never opened: resetting
    // the backoff on `open` would reconnect every half second forever.
    const stable = openedAt !== null && performance.now() - openedAt >= policy["stable-after"] * 1000;
    this.#failures = stable ? 0 : this.#failures + 1;
    if (!this.#wantsSocket()) return;
    const slow = this.#failures >= Math.max(1, policy["fast-attempts"]);
    if (slow && !this.#slow) this.#retryingSlowly(policy, openedAt !== null, code);
    let delay;
    if (this.#failures === 0) {
      // Anywhere in the window ("full jitter"): the pages a server dropped
      // arrive at an even rate, and some at once.
      delay = Math.random() * policy.spread;
    } else {
      const backoff = slow
        ? policy["slow-delay"]
        : Math.min(policy["max-delay"], policy["first-delay"] * 2 ** this.#failures);
      // Equal jitter, a random delay between half and all of the backoff,
      // keeps the pages that keep failing apart.
      delay = backoff / 2 + (Math.random() * backoff) / 2;
    }
    this.#retryTimer = setTimeout(() => this.#open(), delay * 1000);
  }

  // The fast phase is over: say so once, and keep trying.
  #retryingSlowly(policy, opened, code) {
    this.#slow = true;
    // A handshake the server refused (a failed origin check, say) closes
    // with 1006 before opening, exactly like a server that is down.
    const why = opened
      ? `The last one opened, and closed soon after with code ${code}.`
      : "The last one never opened. The browser reports a handshake the server refused exactly like " +
        "a server that is down (close code 1006), so check that the server runs and serves websockets " +
        `at this URL (an ASGI server such as daphne), that ALLOWED_HOSTS allows "${location.hostname}", ` +
        `and that the Origin header of this page ("${location.origin}") passes the server's origin ` +
        "validation (AllowedHostsOriginValidator).";
    console.error(
      `turbo-channels: cannot connect to ${this.#url}: ${this.#failures} websockets in a row failed. ${why} ` +
        `Retrying every ${policy["slow-delay"] / 2} to ${policy["slow-delay"]} s, and at once when the browser comes ` +
        "back online or the tab is shown again.",
    );
    document.dispatchEvent(new CustomEvent("turbo-channels:failed", { detail: { url: this.#url } }));
  }

  // Every state change goes through here, so that the elements show it.
  #setState(stream, state) {
    stream.state = state;
    for (const element of stream.elements) reflectState(element, state);
  }

  #subscribe(stream) {
    this.#setState(stream, "pending");
    stream.sentToken = stream.token;
    const frame = { type: "subscribe", token: stream.token };
    if (stream.position) frame.position = formatPosition(stream.position);
    this.#send(frame);
  }

  #send(frame) {
    this.#socket.send(JSON.stringify(frame));
  }

  #receive(data) {
    this.#acknowledge(data.length);
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return console.warn("turbo-channels: ignored a frame that is not JSON:", data);
    }
    switch (frame?.type) {
      case "subscribed": {
        const stream = this.#pending(frame.token);
        if (!stream) return;
        this.#setState(stream, "subscribed");
        if (stream.replayOnSubscribed) {
          stream.replayOnSubscribed = false;
          this.#replay(stream);
        }
        return this.#caughtUp(stream, frame);
      }
      case "replayed": {
        const stream = this.#streams.get(frame.stream);
        if (stream?.state !== "subscribed") return;
        // The answer to a replay of ours, or the server's own word that the
        // stream may have lost broadcasts (it sends a refresh unasked).
        if (stream.replays) stream.replays--;
        else if (!frame.refresh) return;
        return this.#caughtUp(stream, frame);
      }
      case "rejected": {
        // The answer to a subscribe, or the server's own word after it checked
        // a subscribed stream again (a logout, a password change) and left it.
        const stream = this.#pending(frame.token) ?? this.#subscribedWith(frame.token);
        if (!stream) return;
        this.#setState(stream, "rejected");
        stream.held = [];
        stream.replays = 0;
        stream.replayOnSubscribed = false;
        return rejected(stream, frame);
      }
      case "message": {
        const stream = this.#streams.get(frame.stream);
        if (!stream) return;
        // Until the server has said what the stream missed, or while a
        // message before this one is missing, hold it.
        if (stream.state === "pending" || stream.replays) return void stream.held.push(frame);
        return this.#apply(stream, frame);
      }
      case "reconnect":
        return this.#reconnect(frame.reason);
      case "error":
        return console.warn(`turbo-channels: the server could not act on a frame (${frame.reason}): ${frame.message}`);
      // "unsubscribed" needs nothing; unknown types are ignored, so that a
      // newer server can add some.
    }
  }

  #acknowledge(chars) {
    this.#received++;
    this.#unackedChars += chars;
    if (this.#unackedChars >= ACK_INTERVAL_CHARS) {
      this.#unackedChars = 0;
      this.#send({ type: "ack", messages: this.#received });
    }
  }

  // Asks the server for what the stream broadcast after its position.
  #replay(stream) {
    stream.replays++;
    this.#send({ type: "replay", stream: stream.key, position: formatPosition(stream.position) });
  }

  // The server's account of what the stream broadcast since a position:
  // `missed`, or `refresh` when its history does not reach back that far.
  #caughtUp(stream, { missed, refresh }) {
    // While another answer is awaited, the held messages wait for it: it may
    // bring one that comes before them.
    const held = stream.replays ? [] : stream.held.splice(0);
    if (refresh) {
      stream.position = null; // the refreshed page brings its own
      if (stream.elements.size) missedTooMuch(stream);
      else stream.unapplied = true; // the next element's page refreshes
    }
    for (const frame of [...(missed || []), ...held]) this.#apply(stream, frame);
  }

  // Applies a message once and in order: one already applied is dropped, and
  // one whose predecessor has not arrived (two servers published in the
  // other order, or the pub/sub layer lost it) waits while the server is
  // asked for what is missing. One that comes while the stream has no
  // element (the page is being replaced) is not applied, nor is the position
  // moved past it: the next element asks for it.
  #apply(stream, frame) {
    const position = parsePosition(frame.position);
    const previous = parsePosition(frame.previous);
    const applied = stream.position;
    const sameEpoch = position && applied && position.epoch === applied.epoch;
    if (sameEpoch && position.sequence <= applied.sequence) return;
    // Turbo applies every message of every stream source, so a message
    // goes to one element of the stream however many the page holds.
    const element = stream.elements.values().next().value;
    if (!element) return void (stream.unapplied = true);
    if (position && applied && !sameEpoch) {
      // A new epoch: the history was lost (Redis restarted empty, or a server
      // keeping it in memory restarted), and what came in between with it.
      stream.position = null;
      missedTooMuch(stream);
    } else if (sameEpoch && previous && previous.sequence > applied.sequence) {
      stream.held.push(frame);
      if (!stream.replays) this.#replay(stream);
      return;
    }
    if (position) {
      stream.position = position;
      // For Turbo's page cache: a snapshot resumes from there.
      for (const each of stream.elements) each.setAttribute("position", formatPosition(position));
    }
    element.dispatchEvent(new MessageEvent("message", { data: frame.html }));
  }

  // The stream awaiting the answer to a subscribe with this token: answers
  // carry the token, not always the stream.
  #pending(token) {
    return this.#withToken("pending", token);
  }

  #subscribedWith(token) {
    return this.#withToken("subscribed", token);
  }

  #withToken(state, token) {
    for (const stream of this.#streams.values()) {
      if (stream.state === state && stream.sentToken === token) return stream;
    }
  }

}

// An element shows its stream's state: `state` is idle, pending, subscribed or
// rejected, and `connected` is there while it is subscribed.
function reflectState(element, state) {
  element.setAttribute("state", state);
  element.toggleAttribute("connected", state === "subscribed");
}

// The meta tag content whose mistakes the console has reported.
let reportedPolicy = null;

// RECONNECT_POLICY, with what the page's meta tag changes: read at each close,
// so that a Turbo Drive visit brings its page's.
function reconnectPolicy() {
  const policy = { ...RECONNECT_POLICY };
  const content = document.querySelector(RECONNECT_META)?.content ?? "";
  const ignored = [];
  for (const item of content.split(",").map((each) => each.trim()).filter(Boolean)) {
    const [name, value, ...rest] = item.split("=").map((part) => part.trim());
    const number = Number(value);
    if (Object.hasOwn(policy, name) && value && !rest.length && number >= 0 && number < Infinity) {
      policy[name] = number;
    } else ignored.push(`"${item}"`);
  }
  if (ignored.length && content !== reportedPolicy) {
    reportedPolicy = content;
    console.warn(
      `turbo-channels: ignored ${ignored.join(", ")} in <meta name="turbo-channels-reconnect">: ` +
        `its content is name=value pairs separated by commas, the names ${Object.keys(policy).join(", ")}, ` +
        "the values non-negative numbers.",
    );
  }
  return policy;
}

// "<epoch>:<sequence>" ⇄ {epoch, sequence}; null for anything else.
function parsePosition(text) {
  const match = /^(.+):(\d+)$/.exec(text ?? "");
  return match ? { epoch: match[1], sequence: Number(match[2]) } : null;
}

function formatPosition({ epoch, sequence }) {
  return `${epoch}:${sequence}`;
}

// The history could not say what the stream missed while the page was away:
// refresh the page (morphing, keeping the scroll position), unless a
// listener of turbo-channels:missed takes care of it.
function missedTooMuch(stream) {
  const elements = [...stream.elements];
  if (!dispatchCancelable(elements, "turbo-channels:missed", { stream: stream.key }) && elements.length) {
    window.Turbo.renderStreamMessage(
      '<turbo-stream action="refresh" method="morph" scroll="preserve"></turbo-stream>',
    );
  }
}

function rejected(stream, { reason, message }) {
  console.warn(`turbo-channels: subscription to ${stream.key} rejected (${reason}): ${message}`);
  // Copied: a listener may remove elements.
  const elements = [...stream.elements];
  for (const element of elements) {
    element.dispatchEvent(new CustomEvent("turbo-channels:rejected", {
      bubbles: true,
      detail: { reason, message, stream: stream.key },
    }));
  }
  if (reason !== "expired" || elements.length === 0) return;
  if (!dispatchCancelable(elements, "turbo-channels:expired", { stream: stream.key })) {
    reloadForExpiredToken(stream.sentToken);
  }
}

// Dispatches a cancelable, bubbling event on every element, even after one
// cancelled it; whether one did.
function dispatchCancelable(elements, name, detail) {
  return elements
    .map((element) => element.dispatchEvent(new CustomEvent(name, { bubbles: true, cancelable: true, detail })))
    .includes(false);
}

// The tokens held when this page last asked Turbo to reload: their expiries,
// arriving while the reload is under way, are already taken care of.
let tokensReloadedFor = new Set();

function reloadForExpiredToken(token) {
  if (tokensReloadedFor.has(token)) return;
  // In sessionStorage, to survive a full reload: if the new page's tokens
  // expire too (TURBO_TOKEN_MAX_AGE too short?), reloading would loop.
  const key = `turbo-channels:expired-reload:${location.href}`;
  try {
    if (Date.now() - Number(sessionStorage.getItem(key)) < EXPIRED_RELOAD_INTERVAL) {
      return console.error(
        "turbo-channels: not reloading the page for an expired token again: it was reloaded for one " +
          `less than ${EXPIRED_RELOAD_INTERVAL / 1000} s ago. Is TURBO_TOKEN_MAX_AGE too short?`,
      );
    }
    sessionStorage.setItem(key, String(Date.now()));
  } catch {
    return console.error("turbo-channels: not reloading the page for an expired token: "
      + "without sessionStorage, nothing would stop a reload loop.");
  }
  tokensReloadedFor = new Set([...connections.values()].flatMap((connection) => connection.sentTokens));
  window.Turbo.visit(location.href, { action: "replace" });
}

// Elements that connected before window.Turbo existed (an app that bundles
// Turbo may load it after this module), each with its attach function.
const awaitingTurbo = new Map();
let turboWatch = null; // AbortController for the listeners watching for Turbo

function awaitTurbo(element, attach) {
  awaitingTurbo.set(element, attach);
  if (turboWatch) return;
  turboWatch = new AbortController();
  const options = { signal: turboWatch.signal };
  // Turbo dispatches turbo:load once the page is complete, or after its next
  // visit if it started later than that.
  document.addEventListener("DOMContentLoaded", checkForTurbo, options);
  document.addEventListener("turbo:load", checkForTurbo, options);
  window.addEventListener("load", () => checkForTurbo() || reportMissingTurbo(), options);
  if (document.readyState === "complete") reportMissingTurbo();
}

function stopAwaitingTurbo(element) {
  awaitingTurbo.delete(element);
  if (awaitingTurbo.size === 0) stopWatchingForTurbo();
}

function stopWatchingForTurbo() {
  turboWatch?.abort();
  turboWatch = null;
}

function checkForTurbo() {
  if (!window.Turbo) return false;
  const attaches = [...awaitingTurbo.values()];
  awaitingTurbo.clear();
  stopWatchingForTurbo();
  for (const attach of attaches) attach();
  return true;
}

function reportMissingTurbo() {
  console.error(
    `turbo-channels: window.Turbo is not defined after the page loaded, so <${ELEMENT_NAME}> ` +
      "elements wait for it and receive nothing. Add {% turbo_head %} to the page's <head>: it loads " +
      "Turbo and this client. If your own bundle imports @hotwired/turbo, make sure it runs, and use " +
      "{% turbo_head turbo=False %}.",
  );
}

// http(s) → ws(s), relative to the page.
function websocketURL(url) {
  const absolute = new URL(url, location.href);
  absolute.protocol = absolute.protocol.replace(/^http/, "ws");
  return absolute.href;
}

// The attributes the client writes on the element, besides `position`.
const CLIENT_ATTRIBUTES = ["connected", "state"];

class TurboChannelsStreamSource extends HTMLElement {
  static observedAttributes = ["url", "stream", "token", "position"];

  #connection = null;
  #stream = null; // set while the element is counted (and a Turbo stream source)

  constructor() {
    super();
    // A morphing Turbo 8 page refresh would remove `connected` and `state`,
    // which the server's HTML never has, from an element it keeps.
    this.addEventListener("turbo:before-morph-attribute", (event) => {
      if (CLIENT_ATTRIBUTES.includes(event.detail.attributeName)) event.preventDefault();
    });
  }

  connectedCallback() {
    // Turbo shows a cached snapshot of the page as a preview until the real
    // page replaces it: the real page's elements subscribe, not the preview's.
    if (document.documentElement.hasAttribute("data-turbo-preview")) {
      this.#clearState();
    } else if (window.Turbo) {
      this.#attach();
    } else {
      awaitTurbo(this, () => this.#attach());
    }
  }

  disconnectedCallback() {
    stopAwaitingTurbo(this);
    this.#clearState();
    if (!this.#stream) return;
    window.Turbo.disconnectStreamSource(this);
    this.#connection.remove(this, this.#stream);
    this.#connection = this.#stream = null;
  }

  // A morphing page refresh changes the attributes of the elements it keeps:
  // count the element again under its new attributes.
  attributeChangedCallback(name, oldValue, newValue) {
    // A page refreshed by morphing was rendered at another position. (The
    // client's own writes are the position the stream stands at.)
    if (name === "position") {
      return void (this.#stream && this.#connection.rendered(this.#stream, parsePosition(newValue)));
    }
    if (this.#stream && oldValue !== newValue) {
      this.disconnectedCallback();
      this.connectedCallback();
    }
  }

  #clearState() {
    for (const name of CLIENT_ATTRIBUTES) this.removeAttribute(name);
  }

  #attach() {
    const url = this.getAttribute("url");
    const key = this.getAttribute("stream");
    const token = this.getAttribute("token");
    if (!url || !key || !token) {
      return console.error(`turbo-channels: <${ELEMENT_NAME}> needs url, stream and token attributes:`, this);
    }
    window.Turbo.connectStreamSource(this);
    this.#connection = Connection.for(websocketURL(url));
    this.#stream = this.#connection.add(this, key, token);
  }
}

const MORPH_FOCUSED = "data-turbo-channels-morph-focused";
// The fields of forms Turbo submitted, until they are edited.
const sentFields = new WeakSet();

function fieldsSent(event) {
  for (const field of event.target.elements) sentFields.add(field);
}

function fieldEdited(event) {
  sentFields.delete(event.target);
}

// Turbo's morph (a page refresh, or a stream action with method="morph")
// writes the server's value into every field, the one being typed in
// included. Keep that field as the user has it: focus, caret and text;
// unless its text was sent by a form Turbo submitted and not edited since
// (the page the server answers with knows better: an emptied message field,
// say), or it or an ancestor has data-turbo-channels-morph-focused="replace".
function keepFieldBeingEdited(event) {
  const field = event.target;
  const editable = field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement
    || field instanceof HTMLSelectElement;
  if (!editable || field !== document.activeElement || sentFields.has(field)) return;
  const choice = field.closest(`[${MORPH_FOCUSED}]`)?.getAttribute(MORPH_FOCUSED);
  if (choice !== "replace") event.preventDefault();
}

// The module may be loaded twice (under two URLs); the first one wins.
if (!customElements.get(ELEMENT_NAME)) {
  customElements.define(ELEMENT_NAME, TurboChannelsStreamSource);
  document.addEventListener("turbo:before-morph-element", keepFieldBeingEdited);
  document.addEventListener("turbo:submit-start", fieldsSent);
  document.addEventListener("input", fieldEdited, { capture: true });
  // Debugging hook: a snapshot of every connection, e.g.
  // [{url: "ws://…/ws/turbo/", state: "open", failures: 0, slow: false,
  //   streams: {"turbo.5d0c…": {state: "subscribed", elements: 2}}}]
  Object.defineProperty(window, "TurboChannels", {
    value: Object.freeze({
      get connections() {
        return [...connections.values()].map((connection) => connection.debugState);
      },
    }),
  });
}
