// Static checks of docker-compose.yml, docker-compose.gpu.yml and .env.example: no Docker
// engine runs here, so the files are read the way Compose reads them and checked against the
// Compose Specification, a linter, the config schemas and each other.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../../scripts/stack/config.js';
import { serviceSpecs } from '../../scripts/stack/services.js';
import {
  type ComposeDocument,
  type ComposeFile,
  dockerfileOf,
  type EnvFile,
  environmentOf,
  InterpolationError,
  interpolate,
  loadComposeFile,
  parseComposeYaml,
  parseEnvFile,
  parsePort,
  type Service,
  variablesIn,
} from './compose.js';
import {
  loopbackSettings,
  misdirectedHealthChecks,
  missingRequired,
  mountTargetsOf,
  type ServiceConfig,
  undeclaredVolumes,
  unhealthyDependencies,
  unknownVariables,
  unpublishedListenPorts,
  unreachableUrls,
} from './compose-checks.js';
import { gatewaySchema, mlflowVariables, pythonSchema, type Schema, stackSchema } from './config-schemas.js';
import { envOf, lastOf, parseDockerfile, stagesOf } from './dockerfile.js';
import { composeSpecSchemaPath, dclint, fromRoot, readText } from './paths.js';

const composeFiles = ['docker-compose.yml', 'docker-compose.gpu.yml'];

// Variables of third-party code in our images, set by compose but read by no schema of ours.
// Each must be declared by the installed package (checked below).
const mlflowOwnVariables = ['MLFLOW_SERVER_ALLOWED_HOSTS'];

function compileComposeSpec() {
  const schema = JSON.parse(fs.readFileSync(composeSpecSchemaPath(), 'utf8'));
  // The schema declares draft-07 by an https URL Ajv does not know; its keywords are draft-07's.
  return new Ajv({ allErrors: true, strict: false, validateSchema: false }).compile(schema);
}

function finalStageOf(dockerfile: string) {
  const stage = stagesOf(parseDockerfile(readText(dockerfile))).at(-1);
  if (!stage) throw new Error(`${dockerfile} has no stage`);
  return stage;
}

describe('compose file reading (helpers)', () => {
  it('when variables use defaults, alternatives and $$, then they interpolate as Compose does', () => {
    const env = { SET: 'value', EMPTY: '' };
    expect(interpolate('${SET:-x} ${UNSET:-x} ${EMPTY:-x} ${EMPTY-x}', env)).toBe('value x x ');
    expect(interpolate('${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|$SET|$${SET}', env)).toBe(
      'alt||alt|value|${SET}',
    );
  });

  it('when a required variable is missing or empty, then interpolation fails naming it', () => {
    expect(() => interpolate('${SECRET:?set it in .env}', {})).toThrow(InterpolationError);
    expect(() => interpolate('${SECRET:?set it in .env}', { SECRET: '' })).toThrow('SECRET: set it in .env');
    expect(interpolate('${SECRET?needed}', { SECRET: '' })).toBe('');
  });

  it('when a text refers to variables, then each is listed with its fallback', () => {
    expect(variablesIn('${A:-1}:${B}:$C:$$D:${E:?no}')).toEqual([
      { name: 'A', fallback: '1' },
      { name: 'B' },
      { name: 'C' },
      { name: 'E' },
    ]);
  });

  it('when a .env line is not KEY=value, then parsing fails showing the line', () => {
    expect(parseEnvFile('# comment\n\nA=1\nB="two"\n')).toEqual({ A: '1', B: 'two' });
    expect(() => parseEnvFile('A=1\nnot a setting\n')).toThrow('"not a setting"');
  });

  it('when ports use the short syntax, then interface, host and container port are told apart', () => {
    expect(parsePort('127.0.0.1:8080:80/tcp')).toEqual({
      hostIp: '127.0.0.1',
      hostPort: '8080',
      containerPort: '80',
    });
    expect(parsePort('8080:80')).toEqual({ hostIp: '', hostPort: '8080', containerPort: '80' });
  });
});

describe('compose checks (against broken documents)', () => {
  const schema: Schema = new Map([
    ['API_URL', { name: 'API_URL', required: false, fallback: 'http://127.0.0.1:3000' }],
    ['TOKEN', { name: 'TOKEN', required: true }],
  ]);
  const config = (service: Service): ServiceConfig => ({
    name: 'app',
    service,
    imageEnv: {},
    schema,
    foreign: new Set(),
  });

  it('when the Compose Specification is violated, then the document is rejected', () => {
    const validate = compileComposeSpec();
    expect(validate({ services: { app: { image: 'app:1' } } })).toBe(true);
    expect(
      validate({ services: { app: { image: 'app:1', depends_on: { db: { condition: 'healthy' } } } } }),
    ).toBe(false);
    expect(validate({ services: { app: { image: 'app:1', healthcheck: { interval: 10 } } } })).toBe(false);
    expect(validate({ servces: {} })).toBe(false);
  });

  it('when a service sets an unknown variable or misses a required one, then both are named', () => {
    const service: Service = { environment: { API_URLL: 'http://api:3000' } };
    expect(unknownVariables(config(service))).toEqual([
      'app: API_URLL is not a setting of its config schema',
    ]);
    expect(missingRequired(config(service))).toEqual(['app: required setting TOKEN is not set']);
  });

  it('when a setting keeps its loopback default inside a container, then it is named', () => {
    expect(loopbackSettings(config({ environment: { TOKEN: 't' } }))).toEqual([
      'app: API_URL=http://127.0.0.1:3000 points at the container itself',
    ]);
    expect(loopbackSettings(config({ environment: { TOKEN: 't', API_URL: 'http://api:3000' } }))).toEqual([]);
  });

  it('when URLs, health checks, ports, dependencies or volumes do not fit together, then each is named', () => {
    const doc: ComposeDocument = {
      services: {
        api: {
          ports: ['3000:3000'],
          environment: { API_PORT: '3001' },
          healthcheck: { test: ['CMD', 'curl', 'http://127.0.0.1:3001/'] },
        },
        app: {
          environment: { API_URL: 'http://api:4000', DB_URL: 'http://db:5432' },
          depends_on: { api: { condition: 'service_started' } },
          volumes: ['app-data:/data'],
        },
      },
    };
    expect(unreachableUrls(doc)).toEqual([
      'app: API_URL=http://api:4000: api listens on 3000',
      'app: DB_URL=http://db:5432 names no compose service',
    ]);
    expect(misdirectedHealthChecks(doc)).toEqual([
      'api: health check probes port 3001; the service listens on 3000',
    ]);
    expect(unpublishedListenPorts(doc, new Set(['API_PORT']))).toEqual([
      'api: listens on API_PORT=3001 but publishes 3000',
    ]);
    expect(unhealthyDependencies(doc, () => false)).toEqual([
      'app: depends on api without condition service_healthy',
    ]);
    expect(unhealthyDependencies(doc, () => false, new Set(['app->api']))).toEqual([]);
    expect(undeclaredVolumes(doc)).toEqual(['app: volume app-data is not declared']);
  });

  it('when compose lints a document with a deprecated version field, then dclint fails it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dclint-'));
    const file = path.join(dir, 'docker-compose.yml');
    fs.writeFileSync(file, 'version: "3.9"\nname: demo\nservices:\n  app:\n    image: app:latest\n');
    const result = spawnSync(process.execPath, [dclint, '--max-warnings', '0', file], { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stdout).toContain('no-version-field');
    expect(result.stdout).toContain('service-image-require-explicit-tag');
  });
});

describe('docker-compose.yml and docker-compose.gpu.yml', () => {
  let envExample: EnvFile;
  let files: ComposeFile[];
  let base: ComposeDocument;
  let gatewaySettings: Schema;
  let pythonSettings: Schema;
  let stackSettings: Schema;

  beforeAll(() => {
    envExample = parseEnvFile(readText('.env.example'));
    files = composeFiles.map((file) => loadComposeFile(fromRoot(file), envExample));
    base = (files[0] as ComposeFile).resolved as ComposeDocument;
    gatewaySettings = gatewaySchema();
    pythonSettings = pythonSchema();
    stackSettings = stackSchema();
  });

  /** The schema a service's process reads, by the image it runs. */
  function configOf(name: string, service: Service): ServiceConfig | undefined {
    const dockerfile = dockerfileOf(service);
    if (dockerfile === 'Dockerfile.gateway')
      return {
        name,
        service,
        imageEnv: envOf(finalStageOf(dockerfile)),
        schema: gatewaySettings,
        foreign: new Set(),
      };
    if (dockerfile === 'Dockerfile.bento')
      return {
        name,
        service,
        imageEnv: envOf(finalStageOf(dockerfile)),
        schema: pythonSettings,
        foreign: new Set(mlflowOwnVariables),
      };
    return undefined;
  }

  const ourServices = () =>
    Object.entries(base.services)
      .map(([name, service]) => configOf(name, service))
      .filter((config): config is ServiceConfig => config !== undefined);

  it('when resolved with .env.example, then both files validate against the Compose Specification', () => {
    const validate = compileComposeSpec();
    for (const file of files) {
      const valid = validate(file.resolved);
      expect(valid, `${file.path}: ${JSON.stringify(validate.errors, null, 1)}`).toBe(true);
    }
  });

  it('when linted with dclint (.dclintrc.yaml), then neither file has an error or a warning', () => {
    const result = spawnSync(process.execPath, [dclint, '--max-warnings', '0', ...composeFiles], {
      cwd: fromRoot(),
      encoding: 'utf8',
    });
    expect(result.stdout + result.stderr).not.toMatch(/warning|error/);
    expect(result.status).toBe(0);
  });

  it('when the services are ours, then they run the gateway and the Python image, and MinIO runs a pinned release', () => {
    expect(Object.keys(base.services).sort()).toEqual(['bento', 'gateway', 'minio', 'mlflow', 'trainer']);
    expect(
      ourServices()
        .map((config) => config.name)
        .sort(),
    ).toEqual(['bento', 'gateway', 'mlflow', 'trainer']);
    expect(base.services.minio?.image).toMatch(/^quay\.io\/minio\/minio:RELEASE\.\d{4}-\d\d-\d\dT[\d-]+Z$/);
    expect(base.services.mlflow?.command).toEqual(['python', '-m', 'mini_streamio.tracking_server']);
    expect(base.services.bento?.command).toEqual(['python', '-m', 'mini_streamio.serving']);
    expect(base.services.trainer?.command).toEqual(['python', '-m', 'mini_streamio.training']);
  });

  it('when a service sets a variable, then its component reads it (zod or pydantic schema)', () => {
    expect(ourServices().flatMap(unknownVariables)).toEqual([]);
  });

  it('when a setting has no default, then compose or the image sets it for every service that reads it', () => {
    expect(ourServices().flatMap(missingRequired)).toEqual([]);
  });

  it('when a setting defaults to loopback, then compose or the image overrides it for containers', () => {
    expect(ourServices().flatMap(loopbackSettings)).toEqual([]);
  });

  it('when MLflow-specific variables are set, then the installed MLflow declares them', () => {
    expect(mlflowVariables(mlflowOwnVariables)).toEqual(mlflowOwnVariables);
  });

  it('when MinIO is configured, then it gets the native stack variables and the clients its credentials', () => {
    const native = serviceSpecs(loadStackConfig({})).minio.env;
    const minio = environmentOf(base.services.minio as Service);
    expect(Object.keys(minio).sort()).toEqual(Object.keys(native).sort());
    for (const config of ourServices()) {
      const env = environmentOf(config.service);
      expect(env.MINIO_ACCESS_KEY, config.name).toBe(minio.MINIO_ROOT_USER);
      expect(env.MINIO_SECRET_KEY, config.name).toBe(minio.MINIO_ROOT_PASSWORD);
    }
  });

  it('when services address each other, then URLs, health checks and listen ports match the published ports', () => {
    const portSettings = new Set([...stackSettings.keys()].filter((name) => name.endsWith('_PORT')));
    expect(unreachableUrls(base)).toEqual([]);
    expect(misdirectedHealthChecks(base)).toEqual([]);
    expect(unpublishedListenPorts(base, portSettings)).toEqual([]);
  });

  it('when a port is published, then it is bound to BIND_HOST and its host port is a stack port setting', () => {
    const raw = (files[0] as ComposeFile).raw as ComposeDocument;
    for (const [name, service] of Object.entries(raw.services)) {
      for (const entry of service.ports ?? []) {
        const match = /^\$\{BIND_HOST:-[^}]+\}:\$\{([A-Z_]+):-\d+\}:\d+$/.exec(String(entry));
        expect(match, `${name}: ${String(entry)}`).not.toBeNull();
        expect(stackSettings.has(match?.[1] as string), `${name}: ${match?.[1]}`).toBe(true);
      }
    }
  });

  it('when a variable has a fallback in compose, then it is the default of the schemas that read it', () => {
    const schemas = [stackSettings, gatewaySettings, pythonSettings];
    for (const file of files) {
      for (const use of variablesIn(file.text)) {
        if (use.fallback === undefined) continue;
        for (const schema of schemas) {
          const setting = schema.get(use.name);
          if (setting?.fallback !== undefined)
            expect(use.fallback, `${file.path}: ${use.name}`).toBe(setting.fallback.replace(/\/$/, ''));
        }
      }
    }
  });

  it('when services depend on each other, then they wait for health checks', () => {
    const imageHasHealthCheck = (service: Service) => {
      const dockerfile = dockerfileOf(service);
      return dockerfile !== undefined && lastOf(finalStageOf(dockerfile), 'HEALTHCHECK') !== undefined;
    };
    // BentoML is healthy only with a production model, which a fresh install lacks; the gateway
    // must run meanwhile and report readiness itself.
    expect(unhealthyDependencies(base, imageHasHealthCheck, new Set(['gateway->bento']))).toEqual([]);
    for (const [name, service] of Object.entries(base.services)) {
      if (service.profiles?.length) continue;
      expect(service.healthcheck?.test, `${name} has no health check`).toBeDefined();
    }
  });

  it('when services keep state, then it lives on declared named volumes at their data directories', () => {
    expect(undeclaredVolumes(base)).toEqual([]);
    for (const config of ourServices().filter((config) => config.schema === pythonSettings)) {
      const dataDir =
        environmentOf(config.service).MINI_STREAMIO_DATA_DIR ?? config.imageEnv.MINI_STREAMIO_DATA_DIR;
      expect(mountTargetsOf(config.service), config.name).toContain(dataDir);
    }
    expect(mountTargetsOf(base.services.minio as Service)).toContain(
      (base.services.minio?.command as string[])[1],
    );
    const gateway = base.services.gateway as Service;
    const taskDb = environmentOf(gateway).TASK_DB as string;
    expect(mountTargetsOf(gateway)).toContain(taskDb.slice(0, taskDb.lastIndexOf('/')));
  });

  it('when the GPU file is added, then it reserves NVIDIA GPUs for existing services only', () => {
    const gpu = (files[1] as ComposeFile).resolved as {
      services: Record<
        string,
        { deploy: { resources: { reservations: { devices: { driver: string; capabilities: string[] }[] } } } }
      >;
    };
    expect(Object.keys(gpu.services)).toContain('bento');
    for (const [name, service] of Object.entries(gpu.services)) {
      expect(base.services[name], name).toBeDefined();
      expect(service.deploy.resources.reservations.devices).toEqual([
        expect.objectContaining({ driver: 'nvidia', capabilities: ['gpu'] }),
      ]);
    }
  });
});

describe('.env.example', () => {
  it('when compose interpolates a variable, then .env.example sets it, and sets nothing compose does not use', () => {
    const envExample = parseEnvFile(readText('.env.example'));
    const used = new Set(composeFiles.flatMap((file) => variablesIn(readText(file)).map((use) => use.name)));
    expect([...used].filter((name) => !(name in envExample))).toEqual([]);
    expect(Object.keys(envExample).filter((name) => !used.has(name) && !name.startsWith('COMPOSE_'))).toEqual(
      [],
    );
  });

  it('when there is no .env, then compose refuses to start for want of the MinIO credentials', () => {
    const text = readText('docker-compose.yml');
    expect(() => loadComposeFile(fromRoot('docker-compose.yml'), {})).toThrow(
      /MINIO_ACCESS_KEY|MINIO_SECRET_KEY/,
    );
    expect(parseComposeYaml(text)).toBeTruthy();
  });

  it('when its values are read by the native stack, then they are valid settings', () => {
    const envExample = parseEnvFile(readText('.env.example'));
    expect(() => loadStackConfig(envExample)).not.toThrow();
  });
});
