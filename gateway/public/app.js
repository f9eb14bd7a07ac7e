// The detection page: pick or drop an image, follow its task with long polling (one GET per status
// change or per 30 s), draw the boxes over the image. A plain ES module, no build step. It calls the
// API of its own origin, or of <html data-api-base> for a copy served elsewhere (CORS_ORIGINS).

const API_BASE = (document.documentElement.dataset.apiBase ?? '').replace(/\/+$/, '');
const KEY_STORAGE = 'mini-streamio.api-key'; // sessionStorage: gone when the tab closes
const RECENT_STORAGE = 'mini-streamio.recent-tasks'; // localStorage
const RECENT_MAX = 20;
const THUMB_MAX_PX = 480;
/** The longest wait the API allows (GET /image/detect?wait=, 0-30). */
const WAIT_S = 30;
/** Automatic retries of a POST answered 429 (queue full), after its Retry-After. */
const QUEUE_FULL_RETRIES = 3;
/** Consecutive failed GETs (network, 5xx) before the page stops following a task. */
const GET_FAILURES_MAX = 5;
const STEPS = ['uploading', 'queued', 'processing', 'completed'];

/** What an error `code` of the API means to a user (the answer's own message is shown below it). */
const API_ERRORS = {
  // Replaced by the gateway's own reason when it gives one (explainApiError): it names the parameter.
  invalid_request: 'The gateway refused the request as invalid.',
  image_empty: 'The file is empty: pick an image.',
  unauthorized: 'This gateway needs an API key: enter it in the “API key” field and press “Detect again”.',
  task_not_found:
    'The gateway has no such task: tasks are deleted some days after their last change (TASK_RETENTION_DAYS).',
  not_found: 'The gateway has no such endpoint: is this page talking to a Mini Streamio gateway?',
  method_not_allowed: 'The gateway does not allow this method here.',
  image_too_large:
    'The image is larger than this gateway accepts (MAX_IMAGE_BYTES, 10 MiB by default): send a smaller or more compressed one.',
  unsupported_image_type:
    'This file is not a JPEG, PNG, WebP or BMP image (the gateway judges by its first bytes).',
  unsupported_media_type: 'The upload did not reach the gateway as multipart/form-data.',
  image_unreadable: 'The image is damaged: its header cannot be read.',
  image_too_many_pixels:
    'The image has more pixels than this gateway accepts (MAX_IMAGE_PIXELS): resize it and try again.',
  idempotency_key_reused: 'The Idempotency-Key was already used for another request; press “Detect again”.',
  queue_full:
    'The gateway is busy: more tasks are waiting than it accepts (MAX_QUEUE_DEPTH). Try again shortly.',
  storage_unavailable:
    'The gateway cannot reach its storage (MinIO), so nothing was stored. Try again in a moment.',
  internal: 'The gateway failed unexpectedly; its log has the details (quote the request id).',
};

/** The same by HTTP status, for a code the page does not know. */
const STATUS_ERRORS = {
  400: 'The gateway refused the request as invalid.',
  401: API_ERRORS.unauthorized,
  403: 'The gateway refused access.',
  404: 'Not found.',
  413: API_ERRORS.image_too_large,
  415: API_ERRORS.unsupported_image_type,
  422: 'The gateway could not process this image.',
  429: API_ERRORS.queue_full,
  500: API_ERRORS.internal,
  502: 'A proxy in front of the gateway got no valid answer from it.',
  503: 'The gateway is unavailable for the moment. Try again shortly.',
  504: 'A proxy in front of the gateway timed out.',
};

/** What the `error.code` of a failed task means (from the model server, or the gateway's retries). */
const TASK_ERRORS = {
  image_decode_failed: 'The model server could not decode the image.',
  image_too_large: 'The image is too large for the model server.',
  invalid_parameters: 'The model server refused the parameters.',
  inference_rejected: 'The model server refused the image.',
  image_missing: 'The task’s image is gone from storage.',
  no_model: 'The model server has no model to serve: promote a version (mini-streamio model promote).',
  model_error: 'The model failed on this image, on every attempt.',
  inference_lost: 'The model server lost the task, on every attempt (was it restarted?).',
  inference_timeout: 'The model server did not finish the task in time (TASK_TIMEOUT_MS), on every attempt.',
  inference_failed: 'The model server failed the task, on every attempt.',
  submission_abandoned: 'The gateway could not submit the task to the model server, on every attempt.',
};

const $ = (id) => document.getElementById(id);
const ui = {
  form: $('detect-form'),
  drop: $('drop'),
  file: $('file'),
  conf: $('conf'),
  iou: $('iou'),
  maxDet: $('max-det'),
  apiKey: $('api-key'),
  submit: $('submit'),
  served: $('served'),
  steps: $('steps'),
  message: $('message'),
  messageText: $('message-text'),
  messageDetail: $('message-detail'),
  stage: $('stage'),
  canvas: $('overlay'),
  placeholder: $('placeholder'),
  meta: $('meta'),
  taskId: $('task-id'),
  model: $('model'),
  backend: $('backend'),
  inferenceMs: $('inference-ms'),
  imageSize: $('image-size'),
  detections: $('detections'),
  detectionsCaption: $('detections-caption'),
  recent: $('recent'),
  clearRecent: $('clear-recent'),
};

/** What is shown: the picked file, its decoded image (null: none in this browser), the task. */
const view = { file: null, image: null, task: null };
/** Aborts whatever follows the task shown now, when another is submitted or picked. */
let following = null;

// ---- API calls -----------------------------------------------------------------------------------

function apiFetch(path, init = {}) {
  const headers = new Headers(init.headers);
  const key = ui.apiKey.value.trim();
  if (key) headers.set('X-API-Key', key);
  return fetch(`${API_BASE}${path}`, { ...init, headers });
}

/** The API's error body ({error: {code, message}}) with the HTTP status, whatever the body is. */
async function apiError(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: a proxy's page, say
  }
  const code = typeof body?.error?.code === 'string' ? body.error.code : '';
  const message = typeof body?.error?.message === 'string' ? body.error.message : res.statusText;
  return { status: res.status, code, message, requestId: res.headers.get('x-request-id') ?? '' };
}

function explainApiError({ status, code, message, requestId }) {
  let text = API_ERRORS[code] ?? STATUS_ERRORS[status] ?? `The gateway answered HTTP ${status}.`;
  if (code === 'unauthorized' && ui.apiKey.value.trim())
    text = 'The API key is wrong: check the “API key” field.';
  // The inputs hold the ranges the gateway checks (reportValidity stops the page first), so this is
  // a gateway that disagrees with this page; its message says what it refused (query/conf must be <= 1).
  if (code === 'invalid_request' && message) text = `The gateway refused the request: ${message}.`;
  const detail = [`HTTP ${status}`, code, message, requestId && `request id ${requestId}`].filter(Boolean);
  return { text, detail: detail.join(' · ') };
}

const unreachable = (err) => ({
  text: API_BASE
    ? `Cannot reach the gateway at ${API_BASE}: is it running, and does its CORS_ORIGINS list ${location.origin}?`
    : 'Cannot reach the gateway: is it running?',
  detail: String(err?.message ?? err),
});

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** A random key per submission, so that the page's own retries cannot queue the image twice. */
function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
  return `page-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

// ---- Submitting and following a task -------------------------------------------------------------

async function detect(file) {
  const control = startFollowing();
  const { signal } = control;
  view.file = file;
  view.task = null;
  view.image = await decode(file);
  if (signal.aborted) return;
  ui.submit.disabled = false;
  clearMessage();
  showSteps('uploading');
  render();

  const query = new URLSearchParams({ conf: ui.conf.value, iou: ui.iou.value, max_det: ui.maxDet.value });
  const key = newIdempotencyKey();
  let res;
  for (let attempt = 0; ; attempt++) {
    const body = new FormData();
    body.append('image', file, file.name);
    try {
      res = await apiFetch(`/image/detect?${query}`, {
        method: 'POST',
        body,
        headers: { 'Idempotency-Key': key },
        signal,
      });
    } catch (err) {
      if (signal.aborted) return;
      showSteps('');
      showMessage(unreachable(err));
      return;
    }
    if (res.status !== 429 || attempt >= QUEUE_FULL_RETRIES) break;
    const after = Math.min(Math.max(Number(res.headers.get('retry-after')) || 1, 1), 30);
    const { text, detail } = explainApiError(await apiError(res));
    showMessage({ text: `${text} Retrying in ${after} s…`, detail }, 'notice');
    try {
      await sleep(after * 1000, signal);
    } catch {
      return;
    }
  }
  if (!res.ok) {
    showSteps('');
    showMessage(explainApiError(await apiError(res)));
    return;
  }
  clearMessage();
  const accepted = await res.json();
  remember({
    task_id: accepted.task_id,
    file: file.name,
    at: new Date().toISOString(),
    status: accepted.status,
    thumb: thumbnail(view.image),
  });
  view.task = { task_id: accepted.task_id, status: accepted.status };
  render();
  await follow(accepted.task_id, signal);
}

function startFollowing() {
  following?.abort();
  following = new AbortController();
  return following;
}

/**
 * GETs the task at once, then long-polls until it is completed or failed: a wait answers only when
 * the task finishes, so while it is queued the wait is 1 s, and its move to processing shows.
 */
async function follow(taskId, signal) {
  let wait = 0;
  let failures = 0;
  for (;;) {
    let res;
    try {
      res = await apiFetch(`/image/detect?task_id=${encodeURIComponent(taskId)}&wait=${wait}`, { signal });
    } catch (err) {
      if (signal.aborted) return;
      if (!(await retryGet(unreachable(err), ++failures, signal))) return;
      continue;
    }
    if (signal.aborted) return;
    if (res.status >= 500) {
      if (!(await retryGet(explainApiError(await apiError(res)), ++failures, signal))) return;
      continue;
    }
    if (!res.ok) {
      const error = await apiError(res);
      if (error.code === 'task_not_found') updateRecent({ task_id: taskId, status: 'unknown' });
      showSteps('');
      showMessage(explainApiError(error));
      return;
    }
    const task = await res.json();
    if (signal.aborted) return;
    failures = 0;
    clearMessage();
    view.task = task;
    updateRecent(task);
    render();
    if (task.status === 'completed' || task.status === 'failed') return;
    wait = task.status === 'queued' ? 1 : WAIT_S;
  }
}

/** After a failed GET: says so, waits a little longer each time; false once it gives up. */
async function retryGet(problem, failures, signal) {
  if (failures > GET_FAILURES_MAX) {
    showMessage({ ...problem, text: `${problem.text} Stopped following the task; pick it again to retry.` });
    return false;
  }
  const delayS = 2 * failures;
  showMessage({ ...problem, text: `${problem.text} Asking again in ${delayS} s…` }, 'notice');
  try {
    await sleep(delayS * 1000, signal);
    return true;
  } catch {
    return false;
  }
}

// ---- Showing a task ------------------------------------------------------------------------------

function render() {
  const { task } = view;
  if (task) showSteps(task.status);
  if (task?.status === 'failed') {
    const { code, message } = task.error;
    showMessage({
      text: `The task failed. ${TASK_ERRORS[code] ?? ''}`.trim(),
      detail: [code, message].filter(Boolean).join(' · '),
    });
  }
  const response = task?.status === 'completed' ? task.response : null;
  draw(response);
  ui.meta.hidden = !task;
  ui.taskId.textContent = task?.task_id ?? '';
  ui.model.textContent = response ? `${response.model.name} v${response.model.version}` : '–';
  ui.backend.textContent = response
    ? [response.model.backend ?? 'backend not reported', response.model.precision].filter(Boolean).join(' · ')
    : '–';
  ui.inferenceMs.textContent = response ? `${formatMs(response.inference_ms)} ms` : '–';
  ui.imageSize.textContent = response
    ? `${response.image.width} × ${response.image.height} px`
    : view.image
      ? `${view.image.naturalWidth} × ${view.image.naturalHeight} px (as decoded here)`
      : '–';
  listDetections(response);
  highlightRecent(task?.task_id);
}

const formatMs = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

function showSteps(status) {
  ui.steps.dataset.status = status;
  const at = status === 'failed' ? STEPS.length - 1 : STEPS.indexOf(status);
  ui.steps.querySelectorAll('li').forEach((li, i) => {
    li.className = i < at || (i === at && status === 'completed') ? 'done' : i === at ? 'current' : '';
    if (i === at && status === 'failed') li.className = 'failed';
    if (li.dataset.step === 'completed') li.textContent = status === 'failed' ? 'failed' : 'completed';
  });
}

function showMessage({ text, detail }, kind = 'error') {
  ui.message.hidden = false;
  ui.message.className = `message ${kind === 'notice' ? 'notice' : ''}`.trim();
  ui.message.dataset.kind = kind;
  ui.messageText.textContent = text;
  ui.messageDetail.textContent = detail ?? '';
}

function clearMessage() {
  ui.message.hidden = true;
  ui.messageText.textContent = '';
  ui.messageDetail.textContent = '';
}

/** The instances with their YOLO-normalised "xc yc w h" box as numbers. */
const boxesOf = (response) =>
  (response?.instances ?? []).map((instance) => {
    const [xc, yc, w, h] = instance.boundingBox.split(/\s+/).map(Number);
    return { ...instance, xc, yc, w, h };
  });

/** A colour per class id, the same on every page load. */
function colourOf(classId) {
  const hue = (Number(classId) * 137.508 + 200) % 360;
  return `hsl(${hue.toFixed(0)} 85% 50%)`;
}

/** The image (or, without it, a blank of the task's size) at the stage's width, boxes on top. */
function draw(response) {
  const { canvas, stage } = ui;
  const size = view.image
    ? { w: view.image.naturalWidth, h: view.image.naturalHeight }
    : response
      ? { w: response.image.width, h: response.image.height }
      : null;
  canvas.hidden = !size;
  ui.placeholder.hidden = Boolean(size);
  const boxes = boxesOf(response);
  canvas.dataset.boxes = response ? String(boxes.length) : '';
  if (!size) return;

  // Small images are scaled up too, so that labels stay readable; never past 70% of the window height.
  const maxW = Math.max(stage.clientWidth - 2, 160);
  const maxH = Math.max(window.innerHeight * 0.7, 240);
  const scale = Math.min(maxW / size.w, maxH / size.h);
  const w = Math.max(Math.round(size.w * scale), 1);
  const h = Math.max(Math.round(size.h * scale), 1);
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.imageSmoothingEnabled = true;
  if (view.image) {
    ctx.drawImage(view.image, 0, 0, w, h);
  } else {
    ctx.fillStyle = '#8a94a3';
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = '#ffffff';
    ctx.font = '14px system-ui, sans-serif';
    ctx.fillText('(the image is not kept in this browser)', 12, 24);
  }

  const fontPx = Math.round(Math.min(Math.max(w / 40, 12), 18));
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  ctx.lineWidth = Math.max(2, Math.round(w / 300));
  for (const box of boxes) {
    const x = (box.xc - box.w / 2) * w;
    const y = (box.yc - box.h / 2) * h;
    const colour = colourOf(box.class);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, box.w * w, box.h * h);
    const label = `${box.className} ${(box.confidence * 100).toFixed(0)}%`;
    const labelW = ctx.measureText(label).width + 8;
    const labelH = fontPx + 6;
    // Above the box when there is room, else just inside its top edge; always within the canvas.
    const lx = Math.min(Math.max(x, 0), Math.max(w - labelW, 0));
    const ly = y - labelH >= 0 ? y - labelH : Math.max(y, 0);
    ctx.fillStyle = colour;
    ctx.fillRect(lx, ly, labelW, labelH);
    ctx.fillStyle = '#000000';
    ctx.fillText(label, lx + 4, ly + 3);
  }
}

function listDetections(response) {
  const tbody = ui.detections.tBodies[0];
  tbody.replaceChildren();
  ui.detections.hidden = !response;
  if (!response) return;
  const boxes = boxesOf(response);
  ui.detectionsCaption.textContent =
    boxes.length === 0
      ? 'No objects found (lower conf to see less certain ones).'
      : `${boxes.length} object${boxes.length === 1 ? '' : 's'} found`;
  boxes.forEach((box, i) => {
    const row = tbody.insertRow();
    row.dataset.class = box.class;
    row.insertCell().textContent = String(i + 1);
    const name = row.insertCell();
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = colourOf(box.class);
    name.append(swatch, `${box.className} (${box.class})`);
    row.insertCell().textContent = box.confidence.toFixed(3);
    row.insertCell().textContent = box.boundingBox;
  });
}

// ---- Images --------------------------------------------------------------------------------------

/** The file decoded by the browser, or null when it cannot (the gateway will say why). */
function decode(file) {
  return new Promise((resolve) => {
    const url = URL.createObjectURL(file);
    const image = new Image();
    image.onload = () => {
      URL.revokeObjectURL(url); // the decoded image stays drawable
      resolve(image);
    };
    image.onerror = () => {
      URL.revokeObjectURL(url);
      resolve(null);
    };
    image.src = url;
  });
}

/** A small JPEG of the image for the recent list, so a task picked again is drawn on its image. */
function thumbnail(image) {
  if (!image) return null;
  const scale = Math.min(1, THUMB_MAX_PX / Math.max(image.naturalWidth, image.naturalHeight));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(Math.round(image.naturalWidth * scale), 1);
  canvas.height = Math.max(Math.round(image.naturalHeight * scale), 1);
  canvas.getContext('2d').drawImage(image, 0, 0, canvas.width, canvas.height);
  return canvas.toDataURL('image/jpeg', 0.8);
}

function imageFrom(dataUrl) {
  if (!dataUrl) return Promise.resolve(null);
  return new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => resolve(null);
    image.src = dataUrl;
  });
}

// ---- Recent tasks (localStorage) -----------------------------------------------------------------

function loadRecent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_STORAGE) ?? '[]');
    return Array.isArray(list) ? list.filter((entry) => typeof entry?.task_id === 'string') : [];
  } catch {
    return [];
  }
}

/** Saves the list; when the browser's quota is full, older entries lose their thumbnails first. */
function saveRecent(list) {
  for (let keep = list.length; keep >= 0; keep--) {
    const trimmed = list.map((entry, i) => (i < keep ? entry : { ...entry, thumb: null }));
    try {
      localStorage.setItem(RECENT_STORAGE, JSON.stringify(trimmed));
      return;
    } catch {
      // over quota: try with fewer thumbnails
    }
  }
}

function remember(entry) {
  const list = [entry, ...loadRecent().filter((e) => e.task_id !== entry.task_id)].slice(0, RECENT_MAX);
  saveRecent(list);
  listRecent();
}

function updateRecent(task) {
  const list = loadRecent();
  const entry = list.find((e) => e.task_id === task.task_id);
  if (!entry || entry.status === task.status) return;
  entry.status = task.status;
  saveRecent(list);
  listRecent();
}

function listRecent() {
  const items = loadRecent().map((entry) => {
    const li = document.createElement('li');
    li.dataset.taskId = entry.task_id;
    const button = document.createElement('button');
    button.type = 'button';
    button.title = entry.task_id;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = entry.file || entry.task_id;
    const status = document.createElement('span');
    status.className = `status ${entry.status}`;
    status.textContent = entry.status;
    const when = document.createElement('span');
    when.className = 'when';
    when.textContent = `${new Date(entry.at).toLocaleString()} · ${entry.task_id.slice(0, 8)}`;
    button.append(name, status, when);
    button.addEventListener('click', () => showRecent(entry));
    li.append(button);
    return li;
  });
  ui.recent.replaceChildren(...items);
  highlightRecent(view.task?.task_id);
}

function highlightRecent(taskId) {
  for (const li of ui.recent.children) li.classList.toggle('active', li.dataset.taskId === taskId);
}

async function showRecent(entry) {
  const { signal } = startFollowing();
  view.file = null;
  view.image = await imageFrom(entry.thumb);
  if (signal.aborted) return;
  view.task = { task_id: entry.task_id, status: entry.status === 'unknown' ? '' : entry.status };
  ui.submit.disabled = true;
  clearMessage();
  render();
  await follow(entry.task_id, signal);
}

// ---- The model being served (GET /readyz) --------------------------------------------------------

async function showServed() {
  try {
    const res = await fetch(`${API_BASE}/readyz`);
    const ready = await res.json();
    const model = ready.model;
    ui.served.className = `served ${ready.ready ? 'ready' : 'not-ready'}`;
    ui.served.textContent = model
      ? `serving ${model.name} v${model.version} · ${model.backend} · ${model.precision}`
      : `not ready: ${Object.entries(ready.checks ?? {})
          .filter(([, ok]) => !ok)
          .map(([name]) => name)
          .join(', ')} unavailable (tasks still queue)`;
  } catch (err) {
    ui.served.className = 'served not-ready';
    ui.served.textContent = unreachable(err).text;
  }
}

// ---- Wiring --------------------------------------------------------------------------------------

ui.apiKey.value = sessionStorage.getItem(KEY_STORAGE) ?? '';
ui.apiKey.addEventListener('input', () => {
  const key = ui.apiKey.value.trim();
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
});

ui.file.addEventListener('change', () => {
  const file = ui.file.files?.[0];
  if (file && ui.form.reportValidity()) detect(file);
});

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (view.file) detect(view.file);
});

for (const type of ['dragenter', 'dragover']) {
  ui.drop.addEventListener(type, (event) => {
    event.preventDefault();
    ui.drop.classList.add('over');
  });
}
for (const type of ['dragleave', 'drop'])
  ui.drop.addEventListener(type, () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (event) => {
  event.preventDefault();
  const file = event.dataTransfer?.files?.[0];
  if (file && ui.form.reportValidity()) detect(file);
});
// A file dropped next to the drop zone must not navigate away from the page.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

ui.clearRecent.addEventListener('click', () => {
  localStorage.removeItem(RECENT_STORAGE);
  listRecent();
});

let resizeFrame = 0;
window.addEventListener('resize', () => {
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(() => {
    if (view.image || view.task) draw(view.task?.status === 'completed' ? view.task.response : null);
  });
});

listRecent();
showServed();
