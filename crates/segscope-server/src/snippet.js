/*! segscope tracking snippet (served as /t.js). No dependencies.
 *
 * <script>window.segscope=window.segscope||function(){(segscope.q=segscope.q||[]).push(arguments)};</script>
 * <script async src="https://SEGSCOPE/t.js" data-workspace="WS" data-key="wk_…"></script>
 *
 * API (calls made before the script loads are queued by the stub above):
 *   segscope('consent', true | false)  allow tracking (sets the cookie, sends what waited) or stop it
 *                                      (deletes the cookie, drops the queue, sends nothing more)
 *   segscope('identify', {email, external_id, traits})   or   segscope('identify', 'ann@example.com', {traits})
 *   segscope('track', 'signup')        a custom event
 *   segscope('page')                   a page view for single-page apps after a route change
 *
 * Until consent is given nothing is sent and no cookie is set, unless the
 * tag says data-consent="granted". The visitor cookie itself remembers the
 * consent: a visitor who allowed tracking once is not asked again.
 */
(function () {
  'use strict';
  var w = window, d = document, nav = navigator;
  var COOKIE = 'segscope_vid';
  var HEARTBEAT_MS = 15000;
  var IDLE_STOP_MS = 30 * 60 * 1000;
  var MAX_QUEUE = 100;

  var tag = d.currentScript || d.querySelector('script[data-workspace][src*="/t.js"]');
  if (!tag || !tag.getAttribute('data-workspace') || !tag.getAttribute('data-key')) {
    if (w.console) console.warn('segscope: the script tag needs data-workspace and data-key (the write key)');
    return;
  }
  var workspace = tag.getAttribute('data-workspace');
  var key = tag.getAttribute('data-key');
  var endpoint = (tag.getAttribute('data-endpoint') || new URL(tag.src, location.href).origin) +
    '/collect/' + encodeURIComponent(workspace);

  var previous = w.segscope && w.segscope.q ? w.segscope.q : [];
  var visitor = readCookie();
  var consent = !!visitor || tag.getAttribute('data-consent') === 'granted';
  var pending = [];      // events waiting for consent (in memory only)
  var queue = [];        // events waiting to be sent
  var flushTimer = null;
  var lastUrl = null;
  var lastInput = Date.now();
  var heartbeatTimer = null;
  var left = false;

  function readCookie() {
    var parts = d.cookie ? d.cookie.split('; ') : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf('=');
      if (parts[i].slice(0, eq) === COOKIE) {
        var value = decodeURIComponent(parts[i].slice(eq + 1));
        if (/^[0-9a-f]{32}$/.test(value)) return value;
      }
    }
    return null;
  }

  function writeCookie(value, maxAge) {
    d.cookie = COOKIE + '=' + value + '; Max-Age=' + maxAge + '; Path=/; SameSite=Lax' +
      (location.protocol === 'https:' ? '; Secure' : '');
  }

  function newVisitorId() {
    var bytes = new Uint8Array(16);
    if (w.crypto && w.crypto.getRandomValues) {
      w.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    var hex = '';
    for (var j = 0; j < 16; j++) hex += (bytes[j] < 16 ? '0' : '') + bytes[j].toString(16);
    return hex;
  }

  function body(events) {
    return JSON.stringify({ key: key, visitor_id: visitor, sent_at: Date.now(), events: events });
  }

  // text/plain is CORS-safelisted: no preflight, and sendBeacon sends it too.
  function send(events, beacon) {
    if (!events.length) return;
    var payload = body(events);
    if (beacon && nav.sendBeacon) {
      if (nav.sendBeacon(endpoint, new Blob([payload], { type: 'text/plain' }))) return;
    }
    if (w.fetch) {
      w.fetch(endpoint, {
        method: 'POST', body: payload, keepalive: true, credentials: 'omit', mode: 'cors',
        headers: { 'Content-Type': 'text/plain' }
      })['catch'](function () {});
    } else {
      var xhr = new XMLHttpRequest();
      xhr.open('POST', endpoint, true);
      xhr.setRequestHeader('Content-Type', 'text/plain');
      xhr.send(payload);
    }
  }

  function flush(beacon) {
    if (flushTimer) { clearTimeout(flushTimer); flushTimer = null; }
    if (!consent || !queue.length) return;
    var events = queue;
    queue = [];
    send(events, beacon);
  }

  function push(event) {
    event.t = Date.now();
    if (!consent) {
      if (pending.length < MAX_QUEUE) pending.push(event);
      return;
    }
    if (queue.length >= MAX_QUEUE) flush(false);
    queue.push(event);
    if (!flushTimer) flushTimer = setTimeout(function () { flush(false); }, 0);
  }

  function pageView() {
    var referrer = lastUrl === null ? d.referrer : lastUrl;
    lastUrl = location.href;
    left = false;
    push({ type: 'page_view', url: location.href, referrer: referrer || null, title: d.title || null });
    startHeartbeat();
  }

  function heartbeat() {
    if (!consent || d.visibilityState === 'hidden') return;
    if (Date.now() - lastInput > IDLE_STOP_MS) return;
    push({ type: 'heartbeat', url: location.href });
  }

  function startHeartbeat() {
    if (!heartbeatTimer) heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MS);
  }

  // The page-leave beacon gives the last page of a session its duration.
  function leave() {
    if (left || lastUrl === null) return;
    left = true;
    push({ type: 'page_leave', url: location.href });
    flush(true);
  }

  function setConsent(allowed) {
    if (allowed) {
      if (!visitor) visitor = newVisitorId();
      writeCookie(visitor, 365 * 24 * 3600);
      consent = true;
      var waiting = pending;
      pending = [];
      for (var i = 0; i < waiting.length; i++) queue.push(waiting[i]);
      flush(false);
    } else {
      consent = false;
      pending = [];
      queue = [];
      visitor = null;
      writeCookie('', 0);
    }
  }

  function identify(who, traits) {
    var event = { type: 'identify' };
    if (typeof who === 'string') {
      event[who.indexOf('@') > 0 ? 'email' : 'external_id'] = who;
    } else if (who && typeof who === 'object') {
      if (who.email != null) event.email = who.email;
      if (who.external_id != null) event.external_id = who.external_id;
      if (who.traits && !traits) traits = who.traits;
    }
    if (traits && typeof traits === 'object') event.traits = traits;
    push(event);
    // Identify usually comes just before a navigation (a form submit):
    // send it at once, keepalive lets it outlive the page.
    flush(false);
  }

  function call(args) {
    var command = args[0];
    if (command === 'consent') setConsent(args[1] !== false);
    else if (command === 'identify') identify(args[1], args[2]);
    else if (command === 'track' && typeof args[1] === 'string') push({ type: 'track', name: args[1], url: location.href });
    else if (command === 'page') pageView();
    else if (w.console) console.warn('segscope: unknown command', command);
  }

  w.segscope = function () { call(arguments); };
  if (consent && !visitor) setConsent(true);

  ['pointerdown', 'keydown', 'scroll', 'touchstart'].forEach(function (name) {
    w.addEventListener(name, function () { lastInput = Date.now(); }, { passive: true, capture: true });
  });
  w.addEventListener('pagehide', leave);
  d.addEventListener('visibilitychange', function () {
    if (d.visibilityState === 'hidden') leave();
    else if (lastUrl !== null) left = false;
  });
  w.addEventListener('pageshow', function (e) { if (e.persisted) pageView(); });

  pageView();
  for (var i = 0; i < previous.length; i++) call(previous[i]);
})();
