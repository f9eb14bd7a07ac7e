// README.md's configuration table, generated from the config schemas themselves (the readers in
// tests/static/config-schemas.ts), so that it lists every setting with the default the code has.
// Only the descriptions are written by hand, here; a setting without one fails the generation
// (and tests/static/readme.test.ts), and so does a description of a setting no schema has.
//
//   node --import tsx scripts/docs/config-table.ts     (part of `npm run docs`)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cliSchema,
  gatewaySchema,
  pythonSchema,
  type Schema,
  stackSchema,
} from '../../tests/static/config-schemas.js';
import { repoRoot } from '../stack/config.js';

/** The components with a settings schema, in the order of the table's "read by" column. */
export const components: { label: string; schema: () => Schema }[] = [
  { label: 'stack', schema: stackSchema },
  { label: 'gateway', schema: gatewaySchema },
  { label: 'Python', schema: pythonSchema },
  { label: 'CLI', schema: cliSchema },
];

const devSecret = 'Development default: choose your own anywhere but on a laptop.';

/** What each setting does. Plain ASCII, no `|`: the table is aligned the way biome formats it. */
export const descriptions: Record<string, string> = {
  BIND_HOST:
    'Interface every service listens on. `0.0.0.0` opens them to the network (change the credentials first).',
  GATEWAY_PORT: 'Port of the gateway: the detection API, Swagger UI at `/docs`, `/metrics`.',
  BENTOML_PORT: 'Port of the BentoML service.',
  MINIO_PORT: "Port of MinIO's S3 API; `npm start` derives `MINIO_ENDPOINT` from it.",
  MINIO_CONSOLE_PORT: 'Port of the MinIO web console.',
  MLFLOW_PORT:
    'Port of the MLflow server (UI and REST API); `npm start` derives `MLFLOW_TRACKING_URI` from it.',
  MINIO_ENDPOINT: 'URL of the S3 API of MinIO; `https://` turns TLS on.',
  MINIO_ACCESS_KEY: `MinIO user: the root user of the MinIO that \`npm start\` runs, and every client's key. ${devSecret}`,
  MINIO_SECRET_KEY: `MinIO password, 8 characters or more. ${devSecret}`,
  MINIO_REGION: 'S3 region the clients sign their requests for.',
  MLFLOW_TRACKING_URI: 'URL of the MLflow server: tracking and model registry.',
  MLFLOW_BACKEND_STORE_URI:
    "MLflow server's store of runs, metrics and registry. Unset: SQLite in the data directory; `postgresql://user:password@host:port/database`: a PostgreSQL database several users share. Checked at start; the password is never printed.",
  BENTOML_URL: 'URL of the BentoML service the gateway submits tasks to.',
  BENTOML_URLS:
    'Several BentoML replicas (comma-separated URLs), instead of `BENTOML_URL`: each task goes to the live one with the fewest tasks in flight and is polled there; the tasks of one unreachable for `BENTOML_TIMEOUT_MS` while another answers go to another.',
  BENTOML_DNS:
    '`host:port` whose every address is a BentoML replica (a headless Kubernetes Service), resolved again every 10 s; instead of `BENTOML_URLS`. A replica that leaves DNS has its tasks submitted again elsewhere.',
  GATEWAY_URL: 'URL of the gateway for `detect` and `evaluate` (their `--url` wins).',
  LOG_LEVEL: 'Gateway log level: fatal, error, warn, info, debug, trace or silent.',
  API_KEY:
    'When set (8 characters or more), `/image/detect` requires it in the `X-API-Key` header; the CLI sends it. Unset: no key.',
  CORS_ORIGINS:
    'Browser origins (comma-separated, exact: `https://host[:port]`) whose pages may call the API (CORS); preflights need no key. Unset: no CORS headers.',
  CALLBACK_SECRET:
    "Key (16 characters or more) of the HMAC-SHA256 in each webhook's `X-Signature: sha256=…` header. Unset: `POST` refuses a `callback_url` (422).",
  CALLBACK_ALLOWED_HOSTS:
    'Host names (comma-separated) webhooks may reach over http and at loopback, private or link-local addresses; every other `callback_url` must be https to public addresses (SSRF guard).',
  CALLBACK_MAX_ATTEMPTS:
    'Deliveries of one webhook before it is given up (`callback.state` failed); retries wait 1 s, doubling up to 60 s.',
  MAX_IMAGE_BYTES: 'Largest accepted upload, in bytes (10 MiB); larger answers 413.',
  MAX_IMAGE_PIXELS:
    'Decompression-bomb guard: width x height above this is refused (gateway: 422 from the header alone; BentoML: task fails `image_too_large`).',
  MAX_QUEUE_DEPTH: 'Tasks queued or processing, all gateways together, above which `POST` answers 429.',
  RECONCILE_INTERVAL_MS:
    'How often the reconciler moves pending tasks forward. A finish BentoML announces is fetched at once; while announcements come, running tasks are polled every 5 s only.',
  TASK_TIMEOUT_MS: 'A task BentoML still reports in progress after this long is submitted again.',
  MAX_ATTEMPTS: 'Submissions per task before it is marked `failed` with the reason.',
  BENTOML_TIMEOUT_MS: 'Timeout of one call to BentoML; a claimed submission is abandoned after 3 of them.',
  TASK_RETENTION_DAYS:
    "Days a task's image and record are kept after their last change; MinIO then deletes them (then `GET` answers 404). Sets a lifecycle rule on both buckets, replacing theirs; 0 keeps everything and leaves the buckets' rules alone.",
  TASK_DB:
    'A SQLite file for the task records and the pending index instead of `TASKS_BUCKET` (images stay in MinIO): a fraction of the CPU per task. For the gateways of one host only (they share the file); unset or empty: MinIO, which gateways on several hosts share. `npm start` and docker-compose set it (`<MINI_STREAMIO_DATA_DIR>/gateway/tasks.db`, `/data/tasks.db`); the Helm chart does not.',
  IMAGES_BUCKET: 'Bucket of the uploaded images.',
  TASKS_BUCKET: 'Bucket of the task records and the pending index.',
  MINI_STREAMIO_DATA_DIR:
    'Local state: MinIO objects, MLflow database, BentoML home, caches, training runs and logs.',
  MINI_STREAMIO_ALLOW_DOWNLOADS:
    "Whether the trainer may download Ultralytics' pretrained weights (then imported into MinIO). Never probed.",
  DATASETS_BUCKET: 'Bucket of the dataset versions.',
  MODELS_BUCKET: 'Bucket of the registered weights and the imported base weights.',
  MLFLOW_BUCKET: "Bucket of MLflow's artifacts (the MLflow server writes it).",
  REGISTERED_MODEL_NAME: 'Registered model that training registers into and the service serves.',
  MODEL_POLL_INTERVAL_S: "Seconds between the service's checks of the `production` alias.",
  BENTOML_WORKERS:
    'BentoML worker processes; each holds its own copy of the model (about 170 MiB on OpenVINO or ONNX Runtime, 660 MiB on torch).',
  INFERENCE_THREADS:
    'Runtime threads per BentoML worker (torch, OpenVINO or ONNX Runtime); 0 means cores / workers.',
  INFERENCE_BACKEND:
    'Runtime of the served model: auto (TensorRT on an NVIDIA GPU when its engine exists, else OpenVINO, else ONNX Runtime, else torch), torch, onnx, openvino or tensorrt. A missing export is made on first load; a failing one falls back to torch.',
  EXPORT_FORMATS:
    'Exports made when training registers a version (comma-separated: onnx, openvino, tensorrt); empty makes none (the service then exports on first load).',
  INFERENCE_SCHED_IDLE:
    'Run the BentoML workers under the SCHED_IDLE policy (Linux): any request work preempts inference at once. false leaves only INFERENCE_NICE.',
  BENTOML_REQUEST_LOG:
    "BentoML's access log line per request, its log lines per task and OpenTelemetry spans of the task endpoints (true: BentoML's defaults). Off by default: they cost the workers CPU per request, and the gateway logs every request anyway.",
  INFERENCE_TIMEOUT_S:
    'Seconds a detection may stall (its threads neither running nor waiting for a core: a hung runtime) before its BentoML worker exits and is replaced; the tasks it held are retried by the gateway. A slow or CPU-starved detection is left alone. 0 never ends a worker.',
  INFERENCE_NICE:
    'Nice value of the BentoML workers (and of their autogroup), so requests are not queued behind inference on shared cores; 0 leaves the priority alone.',
};

export interface ConfigRow {
  name: string;
  /** The default per component that reads the setting (undefined: no default). */
  defaults: Map<string, string | undefined>;
  required: boolean;
  description: string | undefined;
}

/** Every setting of every schema, in the order the schemas declare them (stack first). */
export function collectSettings(): ConfigRow[] {
  const rows = new Map<string, ConfigRow>();
  for (const { label, schema } of components) {
    for (const setting of schema().values()) {
      const row = rows.get(setting.name) ?? {
        name: setting.name,
        defaults: new Map(),
        required: false,
        description: descriptions[setting.name],
      };
      row.defaults.set(label, setting.fallback === undefined ? undefined : shown(setting.fallback));
      row.required ||= setting.required;
      rows.set(setting.name, row);
    }
  }
  return [...rows.values()];
}

/** A default as a reader should see it: no machine-specific path, one spelling per value. */
function shown(fallback: string): string {
  if (fallback.startsWith(repoRoot)) return `<repo>${fallback.slice(repoRoot.length)}`;
  if (/^https?:\/\/[^/]+\/$/.test(fallback)) return fallback.slice(0, -1); // pydantic adds a '/'
  if (fallback === 'True' || fallback === 'False') return fallback.toLowerCase(); // Python's bools
  return fallback;
}

function defaultCell(row: ConfigRow): string {
  if (row.required) return 'required';
  const values = new Set(row.defaults.values());
  const text = (value: string | undefined) => (value === undefined ? 'unset' : `\`${value}\``);
  if (values.size === 1) return text([...values][0]);
  return [...row.defaults].map(([label, value]) => `${text(value)} (${label})`).join(', ');
}

/** The settings that have no description, and the descriptions that name no setting. */
export function descriptionProblems(rows: ConfigRow[]): { undescribed: string[]; unknown: string[] } {
  const names = new Set(rows.map((r) => r.name));
  return {
    undescribed: rows.filter((r) => !r.description).map((r) => r.name),
    unknown: Object.keys(descriptions).filter((name) => !names.has(name)),
  };
}

/** The Markdown table, aligned as biome formats Markdown tables. */
export function renderTable(rows: ConfigRow[]): string {
  const { undescribed } = descriptionProblems(rows);
  if (undescribed.length > 0)
    throw new Error(`no description in scripts/docs/config-table.ts for: ${undescribed.join(', ')}`);
  const header = ['Setting', 'Default', 'Read by', 'What it does'];
  const body = rows.map((row) => [
    `\`${row.name}\``,
    defaultCell(row),
    [...row.defaults.keys()].join(', '),
    row.description as string,
  ]);
  const widths = header.map((_, i) =>
    Math.max(3, ...[header, ...body].map((cells) => cells[i]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** The table of every setting of every schema; a stale description is an error too. */
export function generateTable(): string {
  const rows = collectSettings();
  const { unknown } = descriptionProblems(rows);
  if (unknown.length > 0) throw new Error(`descriptions of settings no schema has: ${unknown.join(', ')}`);
  return renderTable(rows);
}

export const tableStart = '<!-- config-table:start -->';
export const tableEnd = '<!-- config-table:end -->';

/** The table as it stands between the markers of `readme`. */
export function tableIn(readme: string): string {
  const start = readme.indexOf(tableStart);
  const end = readme.indexOf(tableEnd);
  if (start < 0 || end < start) throw new Error(`README.md lacks ${tableStart} … ${tableEnd}`);
  return readme.slice(start + tableStart.length, end).trim();
}

/** `readme` with `table` between the markers. */
export function withTable(readme: string, table: string): string {
  tableIn(readme); // the markers must be there
  const start = readme.indexOf(tableStart) + tableStart.length;
  return `${readme.slice(0, start)}\n\n${table}\n\n${readme.slice(readme.indexOf(tableEnd))}`;
}

export const readmePath = path.join(repoRoot, 'README.md');

function main(): void {
  const readme = fs.readFileSync(readmePath, 'utf8');
  const updated = withTable(readme, generateTable());
  if (updated === readme) {
    console.log('README.md: configuration table is up to date');
    return;
  }
  fs.writeFileSync(readmePath, updated);
  console.log('README.md: configuration table regenerated');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
