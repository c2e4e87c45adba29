/*! Rapport web SDK — hand-written ES2017, no dependencies, no build step.
 *
 * Load it from your Rapport server and give it a web source's write key:
 *
 *   <script src="https://crm.example.com/sdk/rapport.js"
 *           data-write-key="wk_..." async></script>
 *
 * or, with options, from your own script:
 *
 *   rapport.load("wk_...", {host: "https://crm.example.com", flushAt: 20});
 *
 * Calls follow the Segment spec (track, identify, page, group, alias) so events are stored
 * as any Segment library would send them. Every event carries messageId, timestamp,
 * anonymousId (and userId once identified), context.session.id, context.device.fingerprint
 * and context.channel = "web". Events are queued (and kept in localStorage until the
 * collector has answered), sent in batches to /v1/batch, retried with back-off on network
 * errors and 5xx/408/429, never retried on other 4xx, and sent with navigator.sendBeacon
 * when the page is hidden or unloaded. See docs/sources.md for every option.
 */
(function (window, document) {
  "use strict";

  if (window.rapport && window.rapport.__sdk) { return; }

  const VERSION = "1.0.0";
  const PREFIX = "rapport.";
  const SESSION_MS_DEFAULT = 30 * 60 * 1000;
  const MAX_BATCH_BYTES = 450 * 1024; // the collector takes 500 KB; keep a margin
  const BEACON_MAX_BYTES = 60 * 1024; // browsers cap beacon/keepalive bodies at 64 KB
  const SENSITIVE_FIELD = /pass|pwd|secret|token|card|cc-|cvv|cvc|iban|ssn|pin\b/i;
  const currentScript = document.currentScript;

  // ---- small helpers -------------------------------------------------------------------

  function now() { return Date.now(); }

  function isoNow() { return new Date().toISOString(); }

  function uuid() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") { return c.randomUUID(); }
    const b = new Uint8Array(16);
    if (c && c.getRandomValues) { c.getRandomValues(b); } else {
      for (let i = 0; i < 16; i++) { b[i] = Math.floor(Math.random() * 256); }
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // cyrb53: a fast, well-mixed 53-bit string hash (public domain). Not cryptographic: it
  // only has to turn the same browser properties into the same short identifier.
  function cyrb53(str, seed) {
    let h1 = 0xdeadbeef ^ seed;
    let h2 = 0x41c6ce57 ^ seed;
    for (let i = 0; i < str.length; i++) {
      const ch = str.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16).padStart(14, "0");
  }

  // localStorage when the browser allows it (private modes and sandboxed frames may not),
  // else memory for the life of the page.
  const memory = {};
  const store = {
    get(key) {
      try {
        const raw = window.localStorage.getItem(PREFIX + key);
        return raw === null ? null : JSON.parse(raw);
      } catch (e) {
        return Object.prototype.hasOwnProperty.call(memory, key) ? memory[key] : null;
      }
    },
    set(key, value) {
      memory[key] = value;
      try { window.localStorage.setItem(PREFIX + key, JSON.stringify(value)); } catch (e) { /* memory only */ }
    },
    remove(key) {
      delete memory[key];
      try { window.localStorage.removeItem(PREFIX + key); } catch (e) { /* memory only */ }
    },
  };

  function warn(message, detail) {
    if (window.console && console.warn) { console.warn(`rapport: ${message}`, detail || ""); }
  }

  function text(el, max) {
    const t = (el.innerText || el.textContent || "").replace(/\s+/g, " ").trim();
    return t.length > max ? t.slice(0, max) : t;
  }

  // data-track-plan="pro" data-track-step="2" -> {plan: "pro", step: "2"}
  function dataProperties(el) {
    const props = {};
    for (const attr of Array.from(el.attributes)) {
      const m = /^data-track-(.+)$/.exec(attr.name);
      if (m && m[1] !== "values") {
        props[m[1].replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = attr.value;
      }
    }
    return props;
  }

  // ---- the SDK -------------------------------------------------------------------------

  const sdk = {
    __sdk: VERSION,
    VERSION,
    loaded: false,
    options: null,
    queue: [],
    _pending: [], // calls made before load()
    _timer: null,
    _backoffUntil: 0,
    _attempt: 0,
    _inFlight: false,
    _documents: [],
    _pageViewId: null,
    _consent: null,
    _fingerprint: null,
  };

  const DEFAULTS = {
    host: null, // where /v1/batch lives; default: the origin this script came from
    flushAt: 20, // send when this many events are queued
    flushInterval: 5000, // ... or after this many milliseconds
    maxQueue: 1000, // oldest events are dropped (with a warning) beyond this
    retryBaseMs: 1000, // back-off: 1 s, 2 s, 4 s ... (with jitter)
    retryMaxMs: 5 * 60 * 1000,
    sessionTimeout: SESSION_MS_DEFAULT,
    autoPage: true, // a page view on load
    trackHistory: false, // page views on pushState/popstate (single-page apps)
    trackClicks: true, // clicks on [data-track] elements
    trackForms: true, // form submits: field names only unless data-track-values
    trackDocuments: true,
    documentSelector: "[data-document]",
    minDwellSeconds: 1, // shorter readings are not reported
    idleTimeout: 5 * 60 * 1000, // reading pauses after this long without input or scroll
    consentEndpoint: null, // your backend that records consent (see docs/sources.md)
  };

  // ---- identity, session, fingerprint --------------------------------------------------

  function anonymousId() {
    let id = store.get("anonymousId");
    if (!id) { id = uuid(); store.set("anonymousId", id); }
    return id;
  }

  // A session ends after 30 minutes without an event (the collector uses the same rule for
  // libraries that do not send one).
  function sessionId() {
    const timeout = sdk.options ? sdk.options.sessionTimeout : SESSION_MS_DEFAULT;
    const t = now();
    let s = store.get("session");
    if (!s || typeof s.id !== "string" || !(t - s.last < timeout)) {
      s = { id: uuid(), start: t, last: t };
    }
    s.last = t;
    store.set("session", s);
    return s.id;
  }

  // The device fingerprint: a hash of properties a browser shows every site anyway and that
  // rarely change — user agent, languages, platform, CPU count, memory class, screen size and
  // colour depth, pixel ratio, time zone, touch points. No canvas, audio or font probing, no
  // cookies. It lets Rapport recognise the same device after localStorage was cleared, as a
  // weak identifier only (many identical devices share it, so the identity graph never
  // merges on it alone). The hash is salted with the Rapport host, so two organisations'
  // Rapport servers compute unrelated values for the same browser: it cannot link a person
  // across sites that do not share one Rapport.
  function fingerprint() {
    if (sdk._fingerprint) { return sdk._fingerprint; }
    const n = window.navigator || {};
    const s = window.screen || {};
    let tz = "";
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* old */ }
    const parts = [
      n.userAgent, (n.languages || [n.language]).join(","), n.platform, n.hardwareConcurrency,
      n.deviceMemory, s.width, s.height, s.colorDepth, window.devicePixelRatio, tz,
      new Date().getTimezoneOffset(), n.maxTouchPoints,
    ].map((v) => (v === undefined || v === null ? "" : String(v))).join("|");
    const salt = sdk.options ? sdk.options.host : "";
    sdk._fingerprint = `fp1_${cyrb53(`${salt}|${parts}`, 1)}${cyrb53(`${parts}|${salt}`, 2)}`;
    return sdk._fingerprint;
  }

  function context(extra) {
    const n = window.navigator || {};
    const s = window.screen || {};
    let tz;
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { tz = undefined; }
    const ctx = {
      channel: "web",
      library: { name: "rapport.js", version: VERSION },
      session: { id: sessionId() },
      device: { fingerprint: fingerprint(), type: "browser" },
      page: {
        path: location.pathname, referrer: document.referrer, search: location.search,
        title: document.title, url: location.href,
      },
      userAgent: n.userAgent,
      locale: n.language,
      timezone: tz,
      screen: { width: s.width, height: s.height, density: window.devicePixelRatio },
    };
    return Object.assign(ctx, extra || {});
  }

  // ---- building and queueing events ----------------------------------------------------

  function enqueue(type, fields, options) {
    if (!sdk.loaded) { sdk._pending.push([type, fields, options]); return null; }
    const opts = options || {};
    if (sdk._consent && sdk._consent.analytics === false && !opts.force) {
      return null; // the visitor withdrew analytics consent: nothing leaves the browser
    }
    const event = Object.assign({
      type,
      messageId: opts.messageId || uuid(),
      timestamp: opts.timestamp || isoNow(),
      anonymousId: anonymousId(),
      context: context(opts.context),
    }, fields);
    const userId = store.get("userId");
    if (userId && !event.userId) { event.userId = userId; }
    if (opts.integrations) { event.integrations = opts.integrations; }
    sdk.queue.push(event);
    if (sdk.queue.length > sdk.options.maxQueue) {
      const dropped = sdk.queue.splice(0, sdk.queue.length - sdk.options.maxQueue);
      warn(`queue full; ${dropped.length} oldest event(s) dropped`);
    }
    persist();
    if (sdk.queue.length >= sdk.options.flushAt) { flush(); } else { schedule(); }
    return event.messageId;
  }

  function persist() { store.set("queue", sdk.queue); }

  function schedule(delay) {
    if (sdk._timer) { return; }
    const wait = Math.max(delay === undefined ? sdk.options.flushInterval : delay,
      sdk._backoffUntil - now(), 0);
    sdk._timer = setTimeout(() => { sdk._timer = null; flush(); }, wait);
  }

  function authHeader() { return `Basic ${btoa(`${sdk.options.writeKey}:`)}`; }

  function batchUrl() { return `${sdk.options.host}/v1/batch`; }

  // Take events from the head of the queue up to the byte budget (at least one).
  function takeBatch(budget) {
    const batch = [];
    let size = 64;
    for (const event of sdk.queue) {
      const bytes = JSON.stringify(event).length + 1;
      if (batch.length && size + bytes > budget) { break; }
      batch.push(event);
      size += bytes;
    }
    return batch;
  }

  function body(batch) {
    const sentAt = isoNow();
    // writeKey in the body too, as Segment's libraries send it: a beacon cannot carry headers
    return JSON.stringify({ batch, sentAt, writeKey: sdk.options.writeKey });
  }

  function settle(batch) {
    const sent = new Set(batch.map((e) => e.messageId));
    sdk.queue = sdk.queue.filter((e) => !sent.has(e.messageId));
    persist();
  }

  function retryLater() {
    sdk._attempt += 1;
    const base = Math.min(sdk.options.retryMaxMs, sdk.options.retryBaseMs * 2 ** (sdk._attempt - 1));
    const delay = base / 2 + Math.random() * (base / 2); // jitter: clients do not retry in step
    sdk._backoffUntil = now() + delay;
    schedule(delay);
  }

  // Send one batch with fetch; returns a promise that resolves when the outcome is known.
  async function flush() {
    if (!sdk.loaded || sdk._inFlight || !sdk.queue.length) { return; }
    if (sdk._timer) { clearTimeout(sdk._timer); sdk._timer = null; }
    if (now() < sdk._backoffUntil) { schedule(sdk._backoffUntil - now() + 5); return; } // timers may fire early
    const batch = takeBatch(MAX_BATCH_BYTES);
    const payload = body(batch);
    sdk._inFlight = true;
    let status = 0;
    try {
      const response = await fetch(batchUrl(), {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: authHeader() },
        body: payload,
        keepalive: payload.length < BEACON_MAX_BYTES,
        credentials: "omit",
        mode: "cors",
      });
      status = response.status;
    } catch (e) {
      status = 0; // network error, CORS refusal or the page going away
    }
    sdk._inFlight = false;
    if (status >= 200 && status < 300) {
      settle(batch);
      sdk._attempt = 0;
      sdk._backoffUntil = 0;
    } else if (status === 0 || status >= 500 || status === 408 || status === 429) {
      retryLater();
      return;
    } else {
      // A 4xx other than 408/429 will not change by retrying (a wrong write key, a malformed
      // body): drop the batch and say why. Per-event problems never come back as 4xx — the
      // collector keeps bad events as dead letters and answers 200.
      settle(batch);
      warn(`the collector refused a batch (HTTP ${status}); ${batch.length} event(s) dropped`);
    }
    if (sdk.queue.length >= sdk.options.flushAt) { flush(); } else if (sdk.queue.length) { schedule(); }
  }

  // The page is going away: hand everything queued to the browser, which sends it even after
  // the page is gone. Events stay in localStorage until then; a resend is harmless because
  // the collector ignores a messageId it has already stored.
  function beaconFlush() {
    if (!sdk.loaded || !sdk.queue.length) { return; }
    while (sdk.queue.length) {
      const batch = takeBatch(BEACON_MAX_BYTES);
      const payload = body(batch);
      let queued = false;
      if (navigator.sendBeacon && payload.length <= BEACON_MAX_BYTES) {
        try {
          // text/plain is a CORS-safelisted type: no preflight, which a beacon cannot do
          queued = navigator.sendBeacon(batchUrl(), new Blob([payload], { type: "text/plain;charset=UTF-8" }));
        } catch (e) { queued = false; }
      }
      if (!queued) {
        try {
          fetch(batchUrl(), {
            method: "POST", keepalive: true, credentials: "omit", mode: "cors", body: payload,
            headers: { "Content-Type": "application/json", Authorization: authHeader() },
          }).catch(() => {});
        } catch (e) { /* kept in localStorage for the next page */ }
        return; // not known to be delivered: keep the queue for the next page load
      }
      settle(batch);
    }
  }

  // ---- public calls --------------------------------------------------------------------

  sdk.track = function (event, properties, options) {
    if (typeof event !== "string" || !event) { warn("track() needs an event name"); return null; }
    return enqueue("track", { event, properties: properties || {} }, options);
  };

  sdk.identify = function (userId, traits, options) {
    if (userId && typeof userId === "object") { [traits, options, userId] = [userId, traits, null]; }
    if (userId !== null && userId !== undefined && userId !== "") { store.set("userId", String(userId)); }
    const saved = Object.assign(store.get("traits") || {}, traits || {});
    store.set("traits", saved);
    const fields = { traits: traits || {} };
    if (store.get("userId")) { fields.userId = store.get("userId"); }
    return enqueue("identify", fields, options);
  };

  sdk.page = function (category, name, properties, options) {
    if (category && typeof category === "object") {
      [properties, options, category, name] = [category, name, null, null];
    } else if (name && typeof name === "object") {
      [properties, options, name, category] = [name, properties, category, null];
    }
    sdk._pageViewId = uuid();
    const props = Object.assign({
      path: location.pathname, referrer: document.referrer, search: location.search,
      title: document.title, url: location.href,
    }, properties || {});
    const fields = { properties: props };
    if (name) { fields.name = name; }
    if (category) { fields.category = category; }
    return enqueue("page", fields, options);
  };

  sdk.group = function (groupId, traits, options) {
    if (!groupId) { warn("group() needs a group id"); return null; }
    return enqueue("group", { groupId: String(groupId), traits: traits || {} }, options);
  };

  sdk.alias = function (userId, previousId, options) {
    if (!userId) { warn("alias() needs the new user id"); return null; }
    const prev = previousId || store.get("userId") || anonymousId();
    store.set("userId", String(userId));
    return enqueue("alias", { userId: String(userId), previousId: String(prev) }, options);
  };

  sdk.reset = function () {
    ["userId", "traits", "anonymousId", "session"].forEach((k) => store.remove(k));
  };

  sdk.user = function () {
    return { anonymousId: anonymousId(), userId: store.get("userId"), traits: store.get("traits") || {} };
  };

  sdk.flush = function () { return flush(); };

  // Consent: the decision is always recorded as a "Consent Updated" event through the
  // collector (durable, in the person's timeline). Withdrawing "analytics" stops the SDK
  // sending anything else from this browser. With `consentEndpoint` set, the decision is also
  // posted there — your own backend, which records it in Rapport with an API token
  // (POST /api/v1/consents/collect takes API tokens only; a write key is public).
  sdk.consent = function (purpose, granted, details) {
    const status = granted ? "granted" : "withdrawn";
    const state = Object.assign(store.get("consent") || {}, { [purpose]: !!granted });
    store.set("consent", state);
    sdk._consent = state;
    const extra = details || {};
    const at = isoNow();
    enqueue("track", { event: "Consent Updated",
      properties: { purpose, status, evidence: extra.evidence || null } }, { force: true });
    flush();
    if (sdk.options && sdk.options.consentEndpoint) {
      const decision = { purpose, status, source: "web_sdk", evidence: extra.evidence || "web SDK banner",
        collected_at: at, anonymousId: anonymousId(), userId: store.get("userId") };
      if (extra.email) { decision.email = extra.email; }
      if (extra.subject) { decision.subject = extra.subject; }
      return fetch(sdk.options.consentEndpoint, {
        method: "POST", credentials: "include", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(decision),
      }).then((r) => r.ok, () => false);
    }
    return Promise.resolve(true);
  };

  // ---- automatic tracking: clicks and forms --------------------------------------------

  function onClick(e) {
    const target = e.target && e.target.closest ? e.target.closest("[data-track]") : null;
    if (!target || target.tagName === "FORM") { return; }
    const props = Object.assign({
      element: target.tagName.toLowerCase(), id: target.id || undefined,
      text: text(target, 200) || undefined, href: target.getAttribute("href") || undefined,
    }, dataProperties(target));
    sdk.track(target.getAttribute("data-track") || "Element Clicked", props);
  }

  function formFields(form) {
    const names = [];
    for (const el of Array.from(form.elements)) {
      if (el.name && names.indexOf(el.name) < 0 && el.type !== "submit" && el.type !== "button") {
        names.push(el.name);
      }
    }
    return names;
  }

  // Values only with data-track-values: "" or "true" = every field that is not sensitive,
  // "email,company" = those fields. Passwords, hidden and file fields and names that look
  // like card numbers or secrets are never sent.
  function formValues(form, spec) {
    const allowed = spec && spec !== "true" ? spec.split(",").map((s) => s.trim()) : null;
    const values = {};
    for (const el of Array.from(form.elements)) {
      if (!el.name || ["password", "hidden", "file", "submit", "button"].indexOf(el.type) >= 0) { continue; }
      if (SENSITIVE_FIELD.test(el.name) || (el.autocomplete && /cc-|password/.test(el.autocomplete))) { continue; }
      if (allowed && allowed.indexOf(el.name) < 0) { continue; }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) { continue; }
      values[el.name] = el.type === "checkbox" && el.value === "on" ? true : el.value;
    }
    return values;
  }

  function onSubmit(e) {
    const form = e.target;
    if (!form || form.tagName !== "FORM" || form.hasAttribute("data-track-ignore")) { return; }
    const props = Object.assign({
      form_id: form.id || undefined, form_name: form.getAttribute("name") || undefined,
      action: form.getAttribute("action") || undefined, method: (form.method || "get").toLowerCase(),
      fields: formFields(form),
    }, dataProperties(form));
    if (form.hasAttribute("data-track-values")) {
      props.values = formValues(form, form.getAttribute("data-track-values"));
    }
    sdk.track(form.getAttribute("data-track") || "Form Submitted", props);
    // a submit usually navigates away: pagehide hands the queue to sendBeacon
  }

  // ---- document reading: dwell time and printing ---------------------------------------

  // A reading of one document: counts milliseconds while the tab is visible, the element is
  // at least partly on screen and the reader was active in the last `idleTimeout`. It is
  // reported as "Document Read" when it ends (tab hidden, page left, SPA navigation); a
  // reader who comes back starts a new reading with the same reading_id, so the total time
  // on a document is the sum of dwell_seconds over its events.
  function Reading(el, id) {
    this.el = el;
    this.id = id;
    this.readingId = uuid();
    this.segment = 0;
    this.inView = el === document.body || el === document.documentElement;
    this.ms = 0;
    this.since = null;
    this.printed = false;
  }

  Reading.prototype.active = function () {
    return this.inView && document.visibilityState === "visible" &&
      now() - sdk._lastActivity < sdk.options.idleTimeout;
  };

  Reading.prototype.tick = function () {
    const t = now();
    if (this.since !== null) { this.ms += t - this.since; }
    this.since = this.active() ? t : null;
  };

  Reading.prototype.report = function () {
    this.tick();
    const seconds = Math.round(this.ms / 100) / 10;
    if (seconds < sdk.options.minDwellSeconds && !this.printed) { return; }
    this.segment += 1;
    sdk.track("Document Read", {
      document_id: this.id,
      title: this.el.getAttribute("data-document-title") ||
        (this.el === document.body ? document.title : (this.el.querySelector("h1,h2,h3") ? text(this.el.querySelector("h1,h2,h3"), 200) : document.title)),
      dwell_seconds: seconds,
      printed: this.printed,
      reading_id: this.readingId,
      segment: this.segment,
      url: location.href,
    });
    this.ms = 0;
    this.printed = false;
    this.since = this.active() ? now() : null;
  };

  function documentId(el) {
    return el.getAttribute("data-document") || el.id ||
      (el === document.body ? location.pathname : null);
  }

  function watchDocuments() {
    const found = [];
    const meta = document.querySelector('meta[name="rapport:document"]');
    if (meta && meta.content) { found.push([document.body, meta.content]); }
    for (const el of Array.from(document.querySelectorAll(sdk.options.documentSelector))) {
      const id = documentId(el);
      if (id && !found.some((f) => f[0] === el)) { found.push([el, id]); }
    }
    for (const [el, id] of found) {
      if (sdk._documents.some((r) => r.el === el)) { continue; }
      const reading = new Reading(el, id);
      sdk._documents.push(reading);
      if (!reading.inView && "IntersectionObserver" in window) {
        new IntersectionObserver((entries) => {
          for (const entry of entries) { reading.tick(); reading.inView = entry.isIntersecting; reading.tick(); }
        }, { threshold: 0 }).observe(el);
      } else {
        reading.inView = true;
      }
      reading.tick();
    }
  }

  function tickAll() { sdk._documents.forEach((r) => r.tick()); }

  function reportAll() { sdk._documents.forEach((r) => r.report()); }

  function onPrint() {
    tickAll();
    sdk._documents.forEach((r) => { r.printed = true; });
  }

  function activity() {
    const idle = now() - sdk._lastActivity >= sdk.options.idleTimeout;
    sdk._lastActivity = now();
    if (idle) { tickAll(); }
  }

  // ---- page lifecycle ------------------------------------------------------------------

  function onHidden() {
    reportAll();
    beaconFlush();
  }

  function install() {
    const o = sdk.options;
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") { onHidden(); } else { tickAll(); }
    });
    window.addEventListener("pagehide", onHidden);
    window.addEventListener("beforeunload", beaconFlush);
    window.addEventListener("online", () => { sdk._backoffUntil = 0; flush(); });
    if (o.trackClicks) { document.addEventListener("click", onClick, true); }
    if (o.trackForms) { document.addEventListener("submit", onSubmit, true); }
    if (o.trackDocuments) {
      sdk._lastActivity = now();
      ["scroll", "keydown", "pointerdown", "pointermove", "touchstart", "wheel"].forEach((t) =>
        window.addEventListener(t, activity, { passive: true, capture: true }));
      window.addEventListener("beforeprint", onPrint);
      if (window.matchMedia) {
        const mq = window.matchMedia("print");
        const listener = (e) => { if (e.matches) { onPrint(); } };
        if (mq.addEventListener) { mq.addEventListener("change", listener); } else if (mq.addListener) { mq.addListener(listener); }
      }
      // the script may run in <head>, before the documents exist
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", watchDocuments);
      } else {
        watchDocuments();
      }
      setInterval(tickAll, 1000);
    }
    if (o.trackHistory) {
      const wrap = (name) => {
        const original = history[name];
        history[name] = function () {
          const result = original.apply(this, arguments);
          setTimeout(onNavigate, 0);
          return result;
        };
      };
      wrap("pushState");
      wrap("replaceState");
      window.addEventListener("popstate", onNavigate);
    }
  }

  let lastPath = location.pathname + location.search;
  function onNavigate() {
    const path = location.pathname + location.search;
    if (path === lastPath) { return; }
    lastPath = path;
    reportAll();
    sdk._documents = [];
    sdk.page();
    if (sdk.options.trackDocuments) { watchDocuments(); }
  }

  // ---- load ----------------------------------------------------------------------------

  sdk.load = function (writeKey, options) {
    if (sdk.loaded) { return sdk; }
    if (!writeKey || typeof writeKey !== "string") { warn("load() needs the source's write key"); return sdk; }
    const scriptOrigin = currentScript && currentScript.src ? new URL(currentScript.src, location.href).origin : location.origin;
    sdk.options = Object.assign({}, DEFAULTS, options || {}, { writeKey });
    sdk.options.host = String(sdk.options.host || scriptOrigin).replace(/\/+$/, "");
    sdk._consent = store.get("consent");
    const saved = store.get("queue");
    sdk.queue = Array.isArray(saved) ? saved : [];
    sdk.loaded = true;
    install();
    const pending = sdk._pending.splice(0);
    if (sdk.options.autoPage && !pending.some((p) => p[0] === "page")) { sdk.page(); }
    for (const [type, fields, opts] of pending) { enqueue(type, fields, opts); }
    if (sdk.queue.length) { schedule(0); }
    return sdk;
  };

  window.rapport = sdk;

  // <script src=".../sdk/rapport.js" data-write-key="wk_..."> loads without inline script
  // (pages with a strict Content-Security-Policy). data-* options: host, flush-at,
  // flush-interval, document-selector, track-history, consent-endpoint.
  if (currentScript && currentScript.getAttribute("data-write-key")) {
    const d = currentScript.dataset;
    const opts = {};
    if (d.host) { opts.host = d.host; }
    if (d.flushAt) { opts.flushAt = parseInt(d.flushAt, 10); }
    if (d.flushInterval) { opts.flushInterval = parseInt(d.flushInterval, 10); }
    if (d.documentSelector) { opts.documentSelector = d.documentSelector; }
    if (d.trackHistory) { opts.trackHistory = d.trackHistory === "true"; }
    if (d.consentEndpoint) { opts.consentEndpoint = d.consentEndpoint; }
    sdk.load(d.writeKey, opts);
  }
})(window, document);
