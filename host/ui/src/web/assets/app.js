// The Switchboard call page: draws the View the server pushes and sends UI input back.
//
// Protocol (see docs/architecture-web.md): server -> page text messages are JSON
// {type: "hello" | "view" | "call_info" | "frame_cleared"}; binary messages are video
// frames [kind=1][uid length u16 BE][uid UTF-8][JPEG]. Page -> server messages are
// switchboard_core::view::UiInput as JSON, e.g. {"input":"button_pressed","id":"mute_audio"}.
//
// Everything inside #stage is laid out in view pixels exactly as the View says; the stage
// as a whole is scaled to fit the window, so pointer deltas are divided by that scale
// before they go back as view coordinates.
//
// The page's address carries the server's access key (`?key=...`, printed by `switchboard
// run`); the socket is opened with the same key, as the server refuses it otherwise.
//
// Picture-in-picture: a view with a `pip_window` overlay is the compact PIP view. When it
// is smaller than the window (the live UI asks the layout for a small one), the stage is
// drawn unscaled as a floating window in the bottom-right corner; its restore control
// sends the `pip` button press that brought it, and a double-click on the tile hands it to
// the browser's own picture-in-picture where the browser has one.
'use strict';

(() => {
  const PROTOCOL = 1;
  const FRAME_KIND_JPEG = 1;
  // Pointer travel (in screen pixels) below which a press on a tile is a click, not a drag.
  const DRAG_THRESHOLD = 4;
  const RESIZE_DEBOUNCE_MS = 150;
  const CORNERS = ['top_left', 'top_right', 'bottom_left', 'bottom_right'];
  // Gap between the floating PIP window and the window's edges, in screen pixels.
  const PIP_MARGIN = 16;
  // The built-in button that enters and leaves picture-in-picture (core's button_id::PIP).
  const PIP_BUTTON = 'pip';
  // The access key from the page's own address (the server served the page only with it).
  const KEY = new URLSearchParams(window.location.search).get('key') || '';

  const stage = document.getElementById('stage');
  const connection = document.getElementById('connection');
  const userList = document.getElementById('user-list');

  // State kept across views: tile elements and canvases are reused so that a new view
  // never blanks a video that is already showing.
  const tiles = new Map(); // uid -> tile element
  const canvases = new Map(); // uid -> canvas holding the newest frame
  const decoding = new Set(); // uids whose frame is being decoded
  const waiting = new Map(); // uid -> newest blob that arrived while decoding
  let view = null;
  let buttonBar = null; // the bar element, kept across views
  const buttonNodes = new Map(); // button id -> its element, kept across views
  const overlayNodes = new Map(); // overlay type (#n for a second one) -> { key, nodes }
  let scale = 1;
  let ws = null;
  let drag = null;
  let resizeTimer = null;

  // Counters for tests and benchmarks; not part of the protocol.
  const stats = { views: 0, frames: {}, inputs: 0, lastEventAt: 0 };
  window.__switchboard = stats;

  const ICONS = {
    mic: '<rect x="9" y="2" width="6" height="12" rx="3"/><path d="M5 11h2a5 5 0 0 0 10 0h2a7 7 0 0 1-6 6.9V21h-2v-3.1A7 7 0 0 1 5 11z"/>',
    mic_off: '<rect x="9" y="2" width="6" height="12" rx="3"/><path d="M5 11h2a5 5 0 0 0 10 0h2a7 7 0 0 1-6 6.9V21h-2v-3.1A7 7 0 0 1 5 11z"/><path d="M3.4 4.8 4.8 3.4l15.8 15.8-1.4 1.4z"/>',
    videocam: '<rect x="2" y="6" width="13" height="12" rx="2"/><path d="M16 10.5 22 7v10l-6-3.5z"/>',
    videocam_off: '<rect x="2" y="6" width="13" height="12" rx="2"/><path d="M16 10.5 22 7v10l-6-3.5z"/><path d="M3.4 3.4 2 4.8 19.2 22l1.4-1.4z" stroke="#000" stroke-width="1"/>',
    switch_camera: '<path d="M4 7h3l2-3h6l2 3h3v13H4z"/><path d="M9 12a3 3 0 0 1 5.2-2H13l2 2 2-2h-1.4A5 5 0 0 0 7 12zM15 14a3 3 0 0 1-5.2 2H11l-2-2-2 2h1.4A5 5 0 0 0 17 14z" fill="#3c3c44"/>',
    audio_mode: '<path d="M3 9h4l5-4v14l-5-4H3z"/><path d="M15 8.5a4.5 4.5 0 0 1 0 7V13.3a2.2 2.2 0 0 0 0-2.6z"/><path d="M15 4.3a8.5 8.5 0 0 1 0 15.4v-2.2a6.4 6.4 0 0 0 0-11z"/>',
    switch_to_video: '<rect x="2" y="6" width="13" height="12" rx="2"/><path d="M16 10.5 22 7v10l-6-3.5z"/>',
    record: '<circle cx="12" cy="12" r="8"/>',
    end_call: '<path d="M1 13.5C6.5 8 17.5 8 23 13.5l-3.2 3.1-4.3-1.9v-3.2a13 13 0 0 0-7 0v3.2l-4.3 1.9z"/>',
    full_screen: '<path d="M3 3h7v2.2H5.2V10H3zM14 3h7v7h-2.2V5.2H14zM3 14h2.2v4.8H10V21H3zM18.8 14H21v7h-7v-2.2h4.8z"/>',
    zoom: '<path d="M10 3a7 7 0 0 1 5.6 11.2l5.6 5.6-1.4 1.4-5.6-5.6A7 7 0 1 1 10 3zm0 2a5 5 0 1 0 0 10 5 5 0 0 0 0-10z"/>',
    pip: '<path d="M2 4h20v16H2zm2 2v12h16V6z"/><rect x="11" y="11" width="8" height="5"/>',
    pip_exit: '<path d="M2 4h20v16H2zm2 2v12h16V6z"/><path d="M7 8h6v2H10.4l3.8 3.8-1.4 1.4L9 11.4V14H7z"/>',
    user_list: '<circle cx="9" cy="8" r="4"/><path d="M1 21c0-4.4 3.6-7 8-7s8 2.6 8 7z"/><circle cx="17.5" cy="9" r="3"/><path d="M18 14c3 .3 5 2.4 5 6h-4.5c0-2.4-.8-4.4-2.3-5.7z"/>',
  };

  function svg(name) {
    const body = ICONS[name];
    if (!body) return null;
    const el = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    el.setAttribute('viewBox', '0 0 24 24');
    el.setAttribute('aria-hidden', 'true');
    el.innerHTML = body;
    return el;
  }

  function el(tag, className, testid) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (testid) node.dataset.testid = testid;
    return node;
  }

  function placeRect(node, rect) {
    node.style.left = `${rect.x}px`;
    node.style.top = `${rect.y}px`;
    node.style.width = `${rect.w}px`;
    node.style.height = `${rect.h}px`;
  }

  // ---- connection -------------------------------------------------------------------

  function connect() {
    ws = new WebSocket(`ws://${window.location.host}/ws?key=${encodeURIComponent(KEY)}`);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      document.body.dataset.connected = 'true';
      connection.textContent = 'connected';
      sendWindowSize();
    };
    ws.onclose = () => {
      document.body.dataset.connected = 'false';
      connection.textContent = 'disconnected, retrying…';
      setTimeout(connect, 1000);
    };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') {
        onMessage(JSON.parse(event.data));
      } else {
        onFrame(new Uint8Array(event.data));
      }
    };
  }

  function send(input) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify(input));
    stats.inputs += 1;
  }

  function onMessage(message) {
    switch (message.type) {
      case 'hello':
        if (message.protocol !== PROTOCOL) {
          connection.textContent = `server speaks protocol ${message.protocol}, this page ${PROTOCOL}: reload`;
          ws.onclose = null;
          ws.close();
        }
        break;
      case 'view':
        view = message.view;
        render();
        stats.views += 1;
        document.body.dataset.views = String(stats.views);
        break;
      case 'call_info':
        renderCallInfo(message.info);
        break;
      case 'frame_cleared': {
        const canvas = canvases.get(message.uid);
        if (canvas) {
          canvas.width = 0;
          canvas.height = 0;
          canvas.dataset.frames = '0';
        }
        stats.frames[message.uid] = 0;
        break;
      }
      default:
        // A newer server may send messages this page does not know; they are skipped.
        break;
    }
  }

  // ---- video frames -----------------------------------------------------------------

  function canvasFor(uid) {
    let canvas = canvases.get(uid);
    if (!canvas) {
      canvas = el('canvas', 'video', `video-${uid}`);
      canvas.width = 0;
      canvas.height = 0;
      canvas.dataset.frames = '0';
      canvases.set(uid, canvas);
    }
    return canvas;
  }

  function onFrame(bytes) {
    if (bytes.length < 3 || bytes[0] !== FRAME_KIND_JPEG) return;
    const len = (bytes[1] << 8) | bytes[2];
    const uid = new TextDecoder().decode(bytes.subarray(3, 3 + len));
    const blob = new Blob([bytes.subarray(3 + len)], { type: 'image/jpeg' });
    // While a frame of this participant is being decoded, keep only the newest one that
    // arrives: a page that cannot keep up skips frames instead of falling behind.
    if (decoding.has(uid)) {
      waiting.set(uid, blob);
      return;
    }
    decode(uid, blob);
  }

  async function decode(uid, blob) {
    decoding.add(uid);
    try {
      const bitmap = await createImageBitmap(blob);
      const canvas = canvasFor(uid);
      if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
        canvas.width = bitmap.width;
        canvas.height = bitmap.height;
      }
      canvas.getContext('2d').drawImage(bitmap, 0, 0);
      bitmap.close();
      stats.frames[uid] = (stats.frames[uid] || 0) + 1;
      canvas.dataset.frames = String(stats.frames[uid]);
    } catch (error) {
      console.warn(`switchboard: cannot decode a frame of ${uid}`, error);
    } finally {
      decoding.delete(uid);
      const next = waiting.get(uid);
      if (next) {
        waiting.delete(uid);
        decode(uid, next);
      }
    }
  }

  // ---- drawing the view -------------------------------------------------------------

  function isPip() {
    return !!view && view.overlays.some((o) => o.type === 'pip_window');
  }

  // A compact PIP view that fits in the window with its margins floats, unscaled.
  function floats() {
    return (
      isPip() &&
      view.width + 2 * PIP_MARGIN <= window.innerWidth &&
      view.height + 2 * PIP_MARGIN <= window.innerHeight
    );
  }

  function fitStage() {
    if (!view || view.width <= 0 || view.height <= 0) return;
    const floating = floats();
    stage.classList.toggle('floating', floating);
    let dx;
    let dy;
    if (floating) {
      scale = 1;
      dx = window.innerWidth - view.width - PIP_MARGIN;
      dy = window.innerHeight - view.height - PIP_MARGIN;
    } else {
      scale = Math.min(window.innerWidth / view.width, window.innerHeight / view.height);
      if (!Number.isFinite(scale) || scale <= 0) scale = 1;
      dx = (window.innerWidth - view.width * scale) / 2;
      dy = (window.innerHeight - view.height * scale) / 2;
    }
    stage.style.width = `${view.width}px`;
    stage.style.height = `${view.height}px`;
    stage.style.transform = `translate(${dx}px, ${dy}px) scale(${scale})`;
    stage.dataset.scale = String(scale);
  }

  function render() {
    fitStage();
    const pip = isPip();
    stage.classList.toggle('pip', pip);
    stage.dataset.mode = pip ? 'pip' : 'call';

    // Tiles stand in view order, so equal z values stack as the view lists them.
    drawKeyed(stage, view.tiles, (tile) => tile.uid, tiles, renderTile);

    renderButtons(pip);
    renderOverlays();
    if (!userList.hidden) renderUserList();
  }

  // Views come whenever the call changes (the active speaker, a mute), so one can land
  // between a press and its release, or while an element has the keyboard focus. Elements
  // are therefore updated in place, and when their order changed only the fewest are
  // moved (those off the longest run already in order): an element replaced or moved
  // under the pointer loses its click, and its focus.
  // Draws `items` with `draw`, which keeps each one's element in `nodes` under
  // `keyOf(item)`; drops the elements of items that are gone, and orders the rest.
  function drawKeyed(parent, items, keyOf, nodes, draw) {
    const seen = new Set();
    for (const item of items) {
      seen.add(keyOf(item));
      draw(item);
    }
    for (const [key, node] of nodes) {
      if (!seen.has(key)) {
        node.remove();
        nodes.delete(key);
      }
    }
    placeInOrder(parent, items.map((item) => nodes.get(keyOf(item))));
  }

  function placeInOrder(parent, nodes) {
    const position = new Map([...parent.children].map((node, i) => [node, i]));
    const stay = longestRunInOrder(nodes.map((node) => (position.has(node) ? position.get(node) : -1)));
    let next = null;
    for (let i = nodes.length - 1; i >= 0; i -= 1) {
      if (!stay.has(i)) parent.insertBefore(nodes[i], next);
      next = nodes[i];
    }
  }

  // The indices of a longest strictly increasing run of the non-negative values.
  function longestRunInOrder(values) {
    const tails = []; // tails[k]: index of the smallest last value of a run of length k + 1
    const before = new Array(values.length).fill(-1);
    values.forEach((value, i) => {
      if (value < 0) return;
      let lo = 0;
      let hi = tails.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (values[tails[mid]] < value) lo = mid + 1;
        else hi = mid;
      }
      if (lo > 0) before[i] = tails[lo - 1];
      tails[lo] = i;
    });
    const run = new Set();
    for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = before[i]) run.add(i);
    return run;
  }

  function renderTile(tile) {
    let node = tiles.get(tile.uid);
    if (!node) {
      node = el('div', 'tile', `tile-${tile.uid}`);
      node.dataset.uid = tile.uid;
      node.addEventListener('pointerdown', onTilePointerDown);
      node.addEventListener('dblclick', onTileDoubleClick);
      tiles.set(tile.uid, node);
    }
    if (drag && drag.uid === tile.uid && drag.moved) {
      // Keep the tile under the pointer; the drop sends the new place.
      placeRect(node, { ...tile.rect, x: drag.x, y: drag.y });
    } else {
      placeRect(node, tile.rect);
    }
    node.style.zIndex = String(tile.z);
    node.classList.toggle('active-speaker', !!tile.active_speaker);
    node.classList.toggle('main', !!tile.main);
    node.classList.toggle('clickable', !!tile.clickable);
    node.classList.toggle('draggable', !!tile.draggable);
    node.dataset.content = tile.content.type;
    node.dataset.activeSpeaker = String(!!tile.active_speaker);
    node.dataset.muted = String(!!tile.muted);
    node.dataset.videoOff = String(!!tile.video_off);
    node.dataset.z = String(tile.z);
    node._tile = tile;

    // What the tile holds is rebuilt only when it changed (see placeInOrder).
    // The rectangle's size is in it: an avatar is drawn to the tile's size.
    const key = JSON.stringify([
      tile.content,
      tile.name_label,
      tile.muted,
      tile.video_off,
      tile.controls,
      tile.rect.w,
      tile.rect.h,
    ]);
    if (node._contentKey === key) return;
    node._contentKey = key;
    const children = [];
    if (tile.content.type === 'video') {
      const canvas = canvasFor(tile.uid);
      canvas.classList.toggle('fit-contain', tile.content.aspect_ratio === 'contain');
      canvas.dataset.aspectRatio = tile.content.aspect_ratio;
      children.push(canvas);
    } else if (tile.content.type === 'avatar') {
      children.push(renderAvatar(tile));
    }

    const corners = {};
    const corner = (position) => {
      if (!corners[position]) {
        corners[position] = el('div', `corner ${CORNERS.includes(position) ? position : 'bottom_left'}`);
        children.push(corners[position]);
      }
      return corners[position];
    };

    const indicators = el('span', 'indicators');
    if (tile.muted) indicators.appendChild(indicator('mic_off', `tile-${tile.uid}-muted`, 'muted'));
    if (tile.video_off) indicators.appendChild(indicator('videocam_off', `tile-${tile.uid}-video-off`, 'video off'));

    if (tile.name_label) {
      const label = el('div', 'name-label', `tile-${tile.uid}-label`);
      label.style.background = tile.name_label.background_color;
      label.dataset.position = tile.name_label.position;
      if (indicators.childElementCount) label.appendChild(indicators);
      label.appendChild(document.createTextNode(tile.name_label.text));
      corner(tile.name_label.position).appendChild(label);
    } else if (indicators.childElementCount) {
      // With the label hidden the indicators still show, where the label would be.
      corner('bottom_left').appendChild(indicators);
    }

    for (const control of tile.controls || []) {
      const button = el('button', 'tile-control', `tile-${tile.uid}-control-${control.id}`);
      button.type = 'button';
      button.title = control.id.replace('_', ' ');
      button.dataset.position = control.position;
      const icon = svg(control.id);
      if (icon) button.appendChild(icon);
      else button.textContent = control.id;
      button.addEventListener('pointerdown', (event) => event.stopPropagation());
      button.addEventListener('click', (event) => {
        event.stopPropagation();
        onTileControl(tile.uid, control.id);
      });
      corner(control.position).appendChild(button);
    }

    node.replaceChildren(...children);
  }

  function indicator(icon, testid, title) {
    const node = el('span', 'indicator', testid);
    node.title = title;
    node.appendChild(svg(icon));
    return node;
  }

  function colourOf(uid) {
    let hash = 0;
    for (const ch of uid) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    return `hsl(${hash % 360}, 45%, 42%)`;
  }

  function renderAvatar(tile) {
    const { mode, initials, url } = tile.content;
    const node = el('div', `avatar ${mode}`, `tile-${tile.uid}-avatar`);
    node.dataset.mode = mode;
    const side = mode === 'fullscreen' ? Math.min(tile.rect.w, tile.rect.h) : Math.min(tile.rect.w, tile.rect.h) * 0.45;
    if (mode !== 'fullscreen') {
      node.style.width = `${side}px`;
      node.style.height = `${side}px`;
    }
    node.style.fontSize = `${Math.max(10, side * (mode === 'fullscreen' ? 0.3 : 0.4))}px`;
    node.style.backgroundColor = colourOf(tile.uid);
    if (url) {
      node.style.backgroundImage = `url("${encodeURI(url)}")`;
    } else {
      node.textContent = initials;
    }
    return node;
  }

  function iconFor(button) {
    if (button.icon && ICONS[button.icon]) return button.icon;
    if (button.id === 'mute_audio') return button.toggled ? 'mic_off' : 'mic';
    if (button.id === 'pause_video') return button.toggled ? 'videocam_off' : 'videocam';
    return ICONS[button.id] ? button.id : null;
  }

  function renderButtons(pip) {
    // In PIP the window shows only its tile: no button bar even if a view carried one.
    if (pip || !view.buttons || view.buttons.length === 0) {
      if (buttonBar) buttonBar.remove();
      return;
    }
    if (!buttonBar) {
      buttonBar = el('div', '', 'button-bar');
      buttonBar.id = 'button-bar';
      buttonBar.style.zIndex = '10000';
    }
    placeRect(buttonBar, view.button_bar || { x: 0, y: view.height - 72, w: view.width, h: 72 });
    drawKeyed(buttonBar, view.buttons, (button) => button.id, buttonNodes, renderButton);
    if (buttonBar.parentNode !== stage) stage.appendChild(buttonBar);
  }

  function renderButton(button) {
    let node = buttonNodes.get(button.id);
    if (!node) {
      node = el('button', '', `button-${button.id}`);
      node.type = 'button';
      node.dataset.id = button.id;
      node.addEventListener('click', (event) => {
        stats.lastEventAt = performance.timeOrigin + event.timeStamp;
        send({ input: 'button_pressed', id: button.id });
      });
      buttonNodes.set(button.id, node);
    }
    node.dataset.toggled = String(!!button.toggled);
    node.classList.toggle('toggled', !!button.toggled);
    node.classList.toggle('danger', button.id === 'end_call');
    node.setAttribute('aria-pressed', String(!!button.toggled));
    node.disabled = !button.enabled;
    node.title = button.label;
    const icon = iconFor(button);
    const key = JSON.stringify([icon, button.label]);
    if (node._contentKey !== key) {
      node._contentKey = key;
      const label = el('span', 'label');
      label.textContent = button.label;
      node.replaceChildren(...(icon ? [svg(icon)] : []), label);
    }
  }

  // Each overlay is redrawn only when it changed: the idle countdown changes once a second,
  // and must not take the PIP window's restore button with it.
  function renderOverlays() {
    const seen = new Set();
    for (const overlay of view.overlays) {
      let slot = overlay.type;
      for (let n = 2; seen.has(slot); n += 1) slot = `${overlay.type}#${n}`;
      seen.add(slot);
      const key = JSON.stringify(overlay);
      const drawn = overlayNodes.get(slot);
      if (drawn && drawn.key === key) continue;
      if (drawn) for (const node of drawn.nodes) node.remove();
      overlayNodes.set(slot, { key, nodes: renderOverlay(overlay) });
    }
    for (const [slot, drawn] of overlayNodes) {
      if (!seen.has(slot)) {
        for (const node of drawn.nodes) node.remove();
        overlayNodes.delete(slot);
      }
    }
  }

  // Draws one overlay and returns the elements it added.
  function renderOverlay(overlay) {
    let node;
    const added = [];
    switch (overlay.type) {
      case 'recording_indicator':
        node = el('div', 'overlay recording', 'overlay-recording');
        node.appendChild(el('span', 'dot'));
        node.appendChild(el('span', 'text')).textContent = 'REC';
        node.style.zIndex = '10001';
        break;
      case 'idle_timeout_prompt':
        node = el('div', 'overlay idle', 'overlay-idle');
        node.appendChild(el('div', 'title')).textContent = 'You are the only one here';
        node.appendChild(el('div', 'seconds', 'overlay-idle-seconds')).textContent = `${overlay.seconds_left} s`;
        node.appendChild(el('div', 'hint')).textContent = 'before the call ends';
        node.dataset.secondsLeft = String(overlay.seconds_left);
        node.style.zIndex = '10002';
        break;
      case 'pip_window': {
        node = el('div', 'overlay pip-window', 'overlay-pip');
        node.title = 'Double-click to pop out';
        node.addEventListener('dblclick', () => popOut());
        // The way back to the full view: window chrome, not a button of the bar, sending
        // the press that entered PIP so the layout turns it into exit_pip_mode.
        const restore = el('button', 'overlay pip-restore', 'pip-restore');
        restore.type = 'button';
        restore.title = 'Back to the call';
        restore.setAttribute('aria-label', 'Back to the call');
        restore.appendChild(svg('pip_exit'));
        restore.addEventListener('pointerdown', (event) => event.stopPropagation());
        restore.addEventListener('click', (event) => {
          event.stopPropagation();
          stats.lastEventAt = performance.timeOrigin + event.timeStamp;
          send({ input: 'button_pressed', id: PIP_BUTTON });
        });
        const side = Math.max(16, Math.min(28, overlay.rect.h / 4));
        placeRect(restore, { x: overlay.rect.x + overlay.rect.w - side - 6, y: overlay.rect.y + 6, w: side, h: side });
        restore.style.zIndex = '10003';
        stage.appendChild(restore);
        added.push(restore);
        break;
      }
      default:
        return added;
    }
    placeRect(node, overlay.rect);
    stage.appendChild(node);
    added.push(node);
    return added;
  }

  function renderCallInfo(info) {
    const box = document.getElementById('call-info');
    document.getElementById('call-title').textContent = info.title;
    document.getElementById('call-status').textContent = info.status;
    box.hidden = !info.title && !info.status;
    document.title = info.title ? `${info.title} · Switchboard` : 'Switchboard call';
  }

  function renderUserList() {
    const rows = (view ? view.tiles : []).map((tile) => {
      const row = el('div', '', `user-list-${tile.uid}`);
      row.textContent = tile.name_label ? tile.name_label.text : tile.uid;
      return row;
    });
    userList.replaceChildren(...rows);
  }

  // ---- tile controls (local to the page, like the SDK's own video container) --------

  function onTileControl(uid, id) {
    const node = tiles.get(uid);
    if (!node) return;
    if (id === 'full_screen') {
      if (document.fullscreenElement) document.exitFullscreen();
      else if (node.requestFullscreen) node.requestFullscreen().catch(() => {});
    } else if (id === 'zoom') {
      node.classList.toggle('zoomed');
    } else if (id === 'user_list') {
      userList.hidden = !userList.hidden;
      if (!userList.hidden) renderUserList();
    }
  }

  // Browser picture-in-picture of a tile's video, where the browser has it. Needs a user
  // gesture, hence the double-click; the PIP view of the call itself is the View's.
  function popOut(uid) {
    const pipTile = uid || (view && view.tiles.length ? view.tiles[0].uid : null);
    const canvas = pipTile && canvases.get(pipTile);
    if (!canvas || !document.pictureInPictureEnabled || !canvas.captureStream) return;
    const video = document.createElement('video');
    video.muted = true;
    video.srcObject = canvas.captureStream();
    video.play().then(() => video.requestPictureInPicture()).catch((error) => {
      console.warn('switchboard: picture-in-picture refused', error);
    });
  }

  function onTileDoubleClick(event) {
    if (stage.classList.contains('pip')) popOut(event.currentTarget.dataset.uid);
  }

  // ---- tile click and drag ----------------------------------------------------------

  function onTilePointerDown(event) {
    const node = event.currentTarget;
    const tile = node._tile;
    if (!tile || event.button !== 0 || (!tile.clickable && !tile.draggable)) return;
    node.setPointerCapture(event.pointerId);
    drag = {
      uid: tile.uid,
      node,
      pointerId: event.pointerId,
      startX: event.clientX,
      startY: event.clientY,
      rectX: tile.rect.x,
      rectY: tile.rect.y,
      x: tile.rect.x,
      y: tile.rect.y,
      moved: false,
      draggable: !!tile.draggable,
      clickable: !!tile.clickable,
    };
    node.addEventListener('pointermove', onTilePointerMove);
    node.addEventListener('pointerup', onTilePointerUp);
    node.addEventListener('pointercancel', onTilePointerCancel);
  }

  function onTilePointerMove(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    const dx = event.clientX - drag.startX;
    const dy = event.clientY - drag.startY;
    if (!drag.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD) return;
    if (!drag.draggable) return;
    drag.moved = true;
    drag.node.classList.add('dragging');
    drag.x = drag.rectX + dx / scale;
    drag.y = drag.rectY + dy / scale;
    drag.node.style.left = `${drag.x}px`;
    drag.node.style.top = `${drag.y}px`;
  }

  function endDrag() {
    const current = drag;
    drag = null;
    current.node.classList.remove('dragging');
    current.node.removeEventListener('pointermove', onTilePointerMove);
    current.node.removeEventListener('pointerup', onTilePointerUp);
    current.node.removeEventListener('pointercancel', onTilePointerCancel);
    return current;
  }

  function onTilePointerUp(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    stats.lastEventAt = performance.timeOrigin + event.timeStamp;
    const done = endDrag();
    const dx = event.clientX - done.startX;
    const dy = event.clientY - done.startY;
    if (done.moved) {
      const round = (v) => Math.round(v * 10) / 10;
      send({ input: 'tile_dragged', uid: done.uid, x: round(done.x), y: round(done.y) });
      // The tile stays where it was dropped until the next view says otherwise.
    } else if (done.clickable && Math.hypot(dx, dy) < DRAG_THRESHOLD) {
      send({ input: 'tile_clicked', uid: done.uid });
    }
  }

  function onTilePointerCancel(event) {
    if (!drag || event.pointerId !== drag.pointerId) return;
    const done = endDrag();
    if (done.node._tile) placeRect(done.node, done.node._tile.rect);
  }

  // ---- window size ------------------------------------------------------------------

  function sendWindowSize() {
    send({ input: 'window_resized', width: window.innerWidth, height: window.innerHeight });
  }

  window.addEventListener('resize', () => {
    fitStage();
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(sendWindowSize, RESIZE_DEBOUNCE_MS);
  });

  connect();
})();
