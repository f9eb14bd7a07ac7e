// Checks of a resolved compose document against the config schemas and against itself.
// Each returns the problems it finds, one readable line each; none means the check passes.
import { type ComposeDocument, containerPortsOf, environmentOf, type Service, urlsIn } from './compose.js';
import type { Schema } from './config-schemas.js';

/** What a service runs with: its compose environment, its image's ENV and the schema it reads. */
export interface ServiceConfig {
  name: string;
  service: Service;
  /** ENV of the image's final stage; compose's environment overrides it. */
  imageEnv: Record<string, string>;
  schema: Schema;
  /** Variables read by third-party code in the container (e.g. MLflow's own), not by our schemas. */
  foreign: ReadonlySet<string>;
}

/** Variables compose sets that the service's schema does not know: typos or stale names. */
export function unknownVariables(config: ServiceConfig): string[] {
  return Object.keys(environmentOf(config.service))
    .filter((name) => !config.schema.has(name) && !config.foreign.has(name))
    .map((name) => `${config.name}: ${name} is not a setting of its config schema`);
}

/** Settings without a default that neither compose nor the image sets. */
export function missingRequired(config: ServiceConfig): string[] {
  const env = { ...config.imageEnv, ...environmentOf(config.service) };
  return [...config.schema.values()]
    .filter((setting) => setting.required && !(setting.name in env))
    .map((setting) => `${config.name}: required setting ${setting.name} is not set`);
}

const loopback = /(^|\/\/|@)(127\.0\.0\.1|localhost|\[::1\])([:/]|$)/;

/**
 * Settings whose effective value names the loopback interface. Inside a container that is the
 * container itself: a server bound there is unreachable, and a URL there finds no service.
 */
export function loopbackSettings(config: ServiceConfig): string[] {
  const env = { ...config.imageEnv, ...environmentOf(config.service) };
  return [...config.schema.values()]
    .map((setting) => ({ name: setting.name, value: env[setting.name] ?? setting.fallback ?? '' }))
    .filter(({ value }) => loopback.test(value))
    .map(({ name, value }) => `${config.name}: ${name}=${value} points at the container itself`);
}

/** URLs in environments must name a compose service and a port that service listens on. */
export function unreachableUrls(doc: ComposeDocument): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    for (const [key, value] of Object.entries(environmentOf(service))) {
      for (const url of urlsIn(value)) {
        const target = doc.services[url.hostname];
        const port = url.port || (url.protocol === 'https:' ? '443' : '80');
        if (!target) problems.push(`${name}: ${key}=${value} names no compose service`);
        else if (!containerPortsOf(target).includes(port))
          problems.push(`${name}: ${key}=${value}: ${url.hostname} listens on ${containerPortsOf(target)}`);
      }
    }
  }
  return problems;
}

/** A service's health check must probe the service itself, on a port it listens on. */
export function misdirectedHealthChecks(doc: ComposeDocument): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    const test = service.healthcheck?.test;
    const text = Array.isArray(test) ? test.join(' ') : (test ?? '');
    for (const url of urlsIn(text)) {
      if (url.hostname !== '127.0.0.1' && url.hostname !== 'localhost')
        problems.push(`${name}: health check probes ${url.host}, not the container itself`);
      else if (!containerPortsOf(service).includes(url.port))
        problems.push(
          `${name}: health check probes port ${url.port}; the service listens on ${containerPortsOf(service)}`,
        );
    }
  }
  return problems;
}

/** Each *_PORT a service is told to listen on must be a port compose publishes for it. */
export function unpublishedListenPorts(doc: ComposeDocument, portSettings: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    for (const [key, value] of Object.entries(environmentOf(service))) {
      if (portSettings.has(key) && !containerPortsOf(service).includes(value))
        problems.push(`${name}: listens on ${key}=${value} but publishes ${containerPortsOf(service)}`);
    }
  }
  return problems;
}

/**
 * Dependencies wait for health: every depends_on entry asks for service_healthy, and the
 * service it names has a health check (its own, or its image's when `hasImageHealthCheck`).
 * `startedOnly` lists the deliberate exceptions as "service->dependency".
 */
export function unhealthyDependencies(
  doc: ComposeDocument,
  hasImageHealthCheck: (service: Service) => boolean,
  startedOnly: ReadonlySet<string> = new Set(),
): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    const dependsOn = service.depends_on ?? {};
    // The list form starts a dependency without waiting for anything.
    const entries: [string, { condition?: string }][] = Array.isArray(dependsOn)
      ? dependsOn.map((dependency) => [dependency, { condition: 'service_started' }])
      : Object.entries(dependsOn);
    for (const [dependency, options] of entries) {
      const target = doc.services[dependency];
      const wanted = startedOnly.has(`${name}->${dependency}`) ? 'service_started' : 'service_healthy';
      if (options.condition !== wanted)
        problems.push(`${name}: depends on ${dependency} without condition ${wanted}`);
      if (!target) problems.push(`${name}: depends on ${dependency}, which is not a service`);
      else if (
        target.healthcheck?.disable === true ||
        (!target.healthcheck?.test && !hasImageHealthCheck(target))
      )
        problems.push(`${name}: depends on ${dependency}, which has no health check`);
    }
  }
  return problems;
}

/** Named volumes a service mounts must be declared at the top level. */
export function undeclaredVolumes(doc: ComposeDocument): string[] {
  const declared = new Set(Object.keys(doc.volumes ?? {}));
  const problems: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    for (const volume of service.volumes ?? []) {
      const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
      const isNamed = source !== undefined && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source);
      if (isNamed && !declared.has(source)) problems.push(`${name}: volume ${source} is not declared`);
    }
  }
  return problems;
}

/** Where a service mounts its named volumes. */
export function mountTargetsOf(service: Service): string[] {
  return (service.volumes ?? []).map((volume) =>
    typeof volume === 'string' ? (volume.split(':')[1] ?? '') : (volume.target ?? ''),
  );
}
