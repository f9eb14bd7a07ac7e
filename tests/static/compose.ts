// Reads docker-compose files the way Docker Compose does before it runs anything: YAML with
// merge keys, then `${VAR}` interpolation from an .env file. No Docker engine needed.
import fs from 'node:fs';
import YAML from 'yaml';

export type EnvFile = Record<string, string>;

export class InterpolationError extends Error {}

/** KEY=value lines of a dotenv file, as Compose reads `.env`; comments and blank lines skipped. */
export function parseEnvFile(text: string): EnvFile {
  const env: EnvFile = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`not a KEY=value line: ${JSON.stringify(raw)}`);
    env[match[1] as string] = (match[2] as string).replace(/^(["'])(.*)\1$/, '$2');
  }
  return env;
}

// $$ (a literal $), ${NAME}, ${NAME<op>word} with op one of :- - :? ? :+ +, or $NAME.
const reference = /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Substitutes variable references in one string with Compose's rules. */
export function interpolate(text: string, env: EnvFile): string {
  return text.replace(reference, (whole, braced?: string, op?: string, word?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const name = (braced ?? bare) as string;
    const value = env[name];
    const isSet = value !== undefined;
    const isSetNonEmpty = isSet && value !== '';
    switch (op) {
      case ':-':
        return isSetNonEmpty ? value : (word as string);
      case '-':
        return isSet ? value : (word as string);
      case ':?':
      case '?':
        if (op === ':?' ? isSetNonEmpty : isSet) return value as string;
        throw new InterpolationError(`${name}: ${word || 'required variable is not set'}`);
      case ':+':
        return isSetNonEmpty ? (word as string) : '';
      case '+':
        return isSet ? (word as string) : '';
      default:
        return value ?? '';
    }
  });
}

export interface VariableUse {
  name: string;
  /** The word after `:-` or `-`, the value Compose uses when the variable is not set. */
  fallback?: string;
}

/** Every variable a text refers to, with its fallback value where it has one. */
export function variablesIn(text: string): VariableUse[] {
  const uses: VariableUse[] = [];
  for (const match of text.matchAll(reference)) {
    const [whole, braced, op, word, bare] = match;
    if (whole === '$$') continue;
    const name = (braced ?? bare) as string;
    uses.push(op === ':-' || op === '-' ? { name, fallback: word as string } : { name });
  }
  return uses;
}

/** Interpolates every string value of a parsed document (Compose leaves keys alone). */
export function interpolateDocument(node: unknown, env: EnvFile): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((item) => interpolateDocument(item, env));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [key, interpolateDocument(value, env)]),
    );
  }
  return node;
}

export function parseComposeYaml(text: string): unknown {
  // Compose supports YAML 1.1 merge keys (`<<: *anchor`); the yaml package needs them enabled.
  return YAML.parse(text, { merge: true });
}

export interface ComposeFile {
  path: string;
  text: string;
  /** As written, before interpolation. */
  raw: unknown;
  /** As Compose would run it with the given .env. */
  resolved: unknown;
}

export function loadComposeFile(file: string, env: EnvFile): ComposeFile {
  const text = fs.readFileSync(file, 'utf8');
  const raw = parseComposeYaml(text);
  return { path: file, text, raw, resolved: interpolateDocument(raw, env) };
}

// The parts of a service these checks read, in either of Compose's spellings.
export interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, string | number | boolean | null> | string[];
  ports?: (string | number | { target?: number | string; published?: string | number })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean | string };
  profiles?: string[];
  command?: string | string[];
}

export interface ComposeDocument {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** A service's environment as a map, from either the map or the KEY=value list form. */
export function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf('=');
        return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? '')]));
}

/** The Dockerfile a service is built from, relative to the build context; undefined for images. */
export function dockerfileOf(service: Service): string | undefined {
  if (service.build === undefined) return undefined;
  if (typeof service.build === 'string') return 'Dockerfile';
  return service.build.dockerfile ?? 'Dockerfile';
}

export interface PublishedPort {
  hostIp: string;
  hostPort: string;
  containerPort: string;
}

/** Parses the short syntax [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTOCOL]. */
export function parsePort(entry: string): PublishedPort {
  const parts = entry.replace(/\/(tcp|udp)$/, '').split(':');
  if (parts.length === 3) {
    return { hostIp: parts[0] as string, hostPort: parts[1] as string, containerPort: parts[2] as string };
  }
  if (parts.length === 2)
    return { hostIp: '', hostPort: parts[0] as string, containerPort: parts[1] as string };
  return { hostIp: '', hostPort: '', containerPort: parts[0] as string };
}

/** The container ports a service publishes. */
export function containerPortsOf(service: Service): string[] {
  return (service.ports ?? []).map((entry) =>
    typeof entry === 'object' ? String(entry.target) : parsePort(String(entry)).containerPort,
  );
}

/** Every http(s) URL inside a string, e.g. in a health check command. */
export function urlsIn(text: string): URL[] {
  return [...text.matchAll(/https?:\/\/[^\s'"`)]+/g)].map((match) => new URL(match[0]));
}
