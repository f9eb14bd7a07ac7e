// Static checks of the Helm chart deploy/helm/mini-streamio: no cluster runs here, so the chart is
// linted by helm, rendered by `helm template` and validated by `kubeconform -strict` against JSON
// schemas generated offline from the Kubernetes OpenAPI spec (scripts/setup.sh builds helm and
// kubeconform from the Go module proxy and writes the schemas with scripts/k8s-schemas.ts); then
// what matters to Mini Streamio is checked on the rendered objects.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { gatewaySchema, pythonSchema, type Schema } from './config-schemas.js';
import { fromRoot, readText } from './paths.js';

const chart = fromRoot('deploy/helm/mini-streamio');
const gpuValues = fromRoot('deploy/helm/mini-streamio/ci/gpu-external-s3-values.yaml');
const helm = fromRoot('.stack/bin/helm');
const kubeconform = fromRoot('.stack/bin/kubeconform');
const NAMESPACE = 'vision';
const RELEASE = 'demo';

// Variables of third-party code in our images, set by the chart but read by no schema of ours.
const foreignVariables = new Set(['MLFLOW_SERVER_ALLOWED_HOSTS']);

// Rendered Kubernetes objects, checked field by field.
type K8sObject = Record<string, any>;
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

function run(command: string, args: string[], input?: string) {
  const result = spawnSync(command, args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function render(...args: string[]): string {
  const result = run(helm, ['template', RELEASE, chart, '--namespace', NAMESPACE, ...args]);
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

const objectsOf = (manifests: string): K8sObject[] =>
  parseAllDocuments(manifests)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);

interface KubeconformReport {
  status: number | null;
  output: string;
  summary: { valid: number; invalid: number; errors: number; skipped: number };
}

/** kubeconform -strict -summary over manifests, with the offline schemas of scripts/setup.sh. */
function validate(manifests: string): KubeconformReport {
  const version = readText('.stack/k8s-version').trim().replace(/^v/, '');
  const location = `${fromRoot('.stack/k8s-schemas')}/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json`;
  const args = ['-strict', '-summary', '-kubernetes-version', version, '-schema-location', location, '-'];
  const result = run(kubeconform, args, manifests);
  const output = result.stdout + result.stderr;
  const match = /Valid: (\d+), Invalid: (\d+), Errors: (\d+), Skipped: (\d+)/.exec(output);
  if (!match) throw new Error(`no kubeconform summary in: ${output}`);
  const [valid, invalid, errors, skipped] = match.slice(1).map(Number) as [number, number, number, number];
  return { status: result.status, output, summary: { valid, invalid, errors, skipped } };
}

const find = (objects: K8sObject[], kind: string, name: string) => {
  const object = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (!object)
    throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind}/${o.metadata?.name}`)}`);
  return object;
};
const podSpecOf = (workload: K8sObject): K8sObject => workload.spec.template.spec;
const containerOf = (workload: K8sObject): K8sObject => podSpecOf(workload).containers[0];
const envOf = (workload: K8sObject): EnvVar[] => containerOf(workload).env ?? [];
const envValue = (workload: K8sObject, name: string) => envOf(workload).find((e) => e.name === name)?.value;
const kindsOf = (objects: K8sObject[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();

const name = (component: string) => `${RELEASE}-mini-streamio-${component}`;
const workloadsOf = (objects: K8sObject[]) =>
  objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind));

/** Settings a workload sets that the schema of its component does not read. */
function unknownSettings(workload: K8sObject, schema: Schema): string[] {
  return envOf(workload)
    .map((e) => e.name)
    .filter((variable) => !schema.has(variable) && !foreignVariables.has(variable))
    .map((variable) => `${workload.metadata.name}: ${variable}`);
}

/** Environment variables holding credentials that do not come from a Secret. */
function inlinedCredentials(workload: K8sObject): string[] {
  const credentials = /ACCESS_KEY|SECRET_KEY|API_KEY|ROOT_USER|ROOT_PASSWORD|PASSWORD|TOKEN|STORE_URI/;
  return envOf(workload)
    .filter((e) => credentials.test(e.name) && !e.valueFrom?.secretKeyRef)
    .map((e) => `${workload.metadata.name}: ${e.name}`);
}

/** The Secrets a workload reads, as name/key. */
const secretRefsOf = (workload: K8sObject) =>
  envOf(workload)
    .map((e) => e.valueFrom?.secretKeyRef)
    .filter((ref): ref is { name: string; key: string } => ref !== undefined)
    .map((ref) => `${ref.name}/${ref.key}`);

describe('helm and kubeconform (installed by scripts/setup.sh)', () => {
  it('when kubeconform -strict meets a typo of a field, a wrong type or an unknown kind, then it fails naming them', () => {
    const objects = objectsOf(render());
    const deployment = find(objects, 'Deployment', name('gateway'));
    const container = containerOf(deployment);

    const typo = structuredClone(deployment);
    containerOf(typo).imagePullPolcy = container.imagePullPolicy;
    const typoReport = validate(stringify(typo));
    expect(typoReport.status).not.toBe(0);
    expect(typoReport.summary.invalid).toBe(1);
    expect(typoReport.output).toContain('imagePullPolcy');

    const wrongType = structuredClone(deployment);
    wrongType.spec.replicas = 'two';
    containerOf(wrongType).ports[0].containerPort = 'eighty';
    const typeReport = validate(stringify(wrongType));
    expect(typeReport.status).not.toBe(0);
    expect(typeReport.summary.invalid).toBe(1);
    expect(typeReport.output).toMatch(/replicas|containerPort/);

    const unknownKind = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } };
    const kindReport = validate(stringify(unknownKind));
    expect(kindReport.status).not.toBe(0);
    expect(kindReport.summary.errors).toBe(1);

    const unchanged = validate(stringify(deployment));
    expect(unchanged.status, unchanged.output).toBe(0);
    expect(unchanged.summary).toEqual({ valid: 1, invalid: 0, errors: 0, skipped: 0 });
  });

  it('when objects of dotted API groups or recursive schemas are given, then the offline schemas find and validate them', () => {
    const ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'gateway' },
      spec: {
        rules: [
          {
            host: 'detect.example.com',
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: 'gateway', port: { number: 8080 } } },
                },
              ],
            },
          },
        ],
      },
    };
    // A CRD's openAPIV3Schema is recursive (JSONSchemaProps), kept as definitions in the file.
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com' },
      spec: {
        group: 'example.com',
        names: { kind: 'Widget', plural: 'widgets' },
        scope: 'Namespaced',
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } },
              },
            },
          },
        ],
      },
    };
    const report = validate([ingress, crd].map((o) => stringify(o)).join('---\n'));
    expect(report.status, report.output).toBe(0);
    expect(report.summary).toEqual({ valid: 2, invalid: 0, errors: 0, skipped: 0 });
    const badCrd = structuredClone(crd);
    (badCrd.spec.versions[0] as K8sObject).schema.openAPIV3Schema.properties.spec.properties.size.typo = true;
    const bad = validate(stringify(badCrd));
    expect(bad.summary.invalid, bad.output).toBe(1);
    expect(bad.output).toContain('typo');
  });
});

describe('deploy/helm/mini-streamio', () => {
  it('when linted with helm lint --strict, with the default values and the GPU + external S3 values, then it passes', () => {
    for (const args of [[], ['--values', gpuValues]]) {
      const result = run(helm, ['lint', '--strict', chart, ...args]);
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('0 chart(s) failed');
    }
  });

  it('when required values are missing or too short, then rendering fails saying which', () => {
    const failure = (...args: string[]) => run(helm, ['template', RELEASE, chart, ...args]);
    expect(failure('--set', 'minio.enabled=false').stderr).toContain('s3.endpoint');
    expect(
      failure('--set', 'minio.enabled=false', '--set', 's3.endpoint=https://s3.example.com').stderr,
    ).toContain('s3.existingSecret');
    expect(failure('--set', 'apiKey.value=short').stderr).toContain('apiKey.value must have 8 characters');
    expect(failure('--set', 'mlflow.enabled=false').stderr).toContain('mlflow.externalTrackingUri');
    expect(failure('--set', 'mlflow.replicaCount=2').stderr).toContain('mlflow.backendStore.existingSecret');
  });

  it('when installed, then NOTES.txt says how to reach the gateway and how to bootstrap a model', () => {
    // helm template leaves NOTES.txt out; a copy of the chart renders it into a ConfigMap.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chart-'));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const copy = path.join(dir, 'mini-streamio');
    fs.cpSync(chart, copy, { recursive: true });
    fs.writeFileSync(
      path.join(copy, 'templates/zz-notes.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n' +
        'data: {notes: {{ include (print .Template.BasePath "/NOTES.txt") . | quote }}}\n',
    );
    const notesOf = (...args: string[]) => {
      const result = run(helm, [
        'template',
        RELEASE,
        copy,
        '-n',
        NAMESPACE,
        '--show-only',
        'templates/zz-notes.yaml',
        ...args,
      ]);
      expect(result.status, result.stderr).toBe(0);
      return (parse(result.stdout) as K8sObject).data.notes as string;
    };
    const notes = notesOf();
    expect(notes).toContain(`kubectl -n ${NAMESPACE} port-forward svc/${name('gateway')} 8080:8080`);
    expect(notes).toContain(`port-forward svc/${name('minio')} 9000:9000`);
    expect(notes).toContain(`get secret ${name('s3')}`);
    expect(notes).toContain('npx mini-streamio dataset push');
    expect(notes).toContain('--set trainer.enabled=true');
    expect(notes).toContain('--alias=production');
    expect(notes).toContain('WARNING: no API key');
    const external = notesOf('--values', gpuValues);
    expect(external).toContain('export MINIO_ENDPOINT=https://s3.eu-west-1.amazonaws.com');
    expect(external).toContain('get secret streamio-s3');
    expect(external).not.toContain('WARNING');
  });

  it('when MLflow keeps its store in PostgreSQL, then the URI comes from the Secret, nothing is on a volume, and replicas may roll', () => {
    const manifests = render(
      '--set',
      'mlflow.backendStore.existingSecret=mlflow-db',
      '--set',
      'mlflow.replicaCount=2',
    );
    const report = validate(manifests);
    expect(report.status, report.output).toBe(0);
    const objects = objectsOf(manifests);
    expect(objects.filter((o) => o.kind === 'PersistentVolumeClaim')).toEqual([]);
    const mlflow = find(objects, 'Deployment', name('mlflow'));
    expect(mlflow.spec.replicas).toBe(2);
    expect(mlflow.spec.strategy.type).toBe('RollingUpdate');
    expect(secretRefsOf(mlflow)).toContain('mlflow-db/MLFLOW_BACKEND_STORE_URI');
    expect(inlinedCredentials(mlflow)).toEqual([]);
    expect(podSpecOf(mlflow).volumes).toEqual([{ name: 'data', emptyDir: {} }]);
    expect(unknownSettings(mlflow, pythonSchema())).toEqual([]);
  });

  describe('rendered with the default values (in-chart MinIO and MLflow)', () => {
    let manifests: string;
    let objects: K8sObject[];

    beforeAll(() => {
      manifests = render('--set', 'apiKey.value=an-api-key-123');
      objects = objectsOf(manifests);
    });

    it('when piped to kubeconform -strict, then every object is valid', () => {
      const report = validate(manifests);
      expect(report.status, report.output).toBe(0);
      expect(report.summary).toEqual({ valid: objects.length, invalid: 0, errors: 0, skipped: 0 });
    });

    it('when rendered, then it holds the gateway with its HPA, BentoML with its headless Service, MLflow and MinIO', () => {
      expect(kindsOf(objects)).toEqual(
        [
          `Deployment/${name('bento')}`,
          `Deployment/${name('gateway')}`,
          `Deployment/${name('mlflow')}`,
          `HorizontalPodAutoscaler/${name('gateway')}`,
          `PersistentVolumeClaim/${name('mlflow')}`,
          `Secret/${name('api-key')}`,
          `Secret/${name('s3')}`,
          `Service/${name('bento-headless')}`,
          `Service/${name('gateway')}`,
          `Service/${name('minio')}`,
          `Service/${name('minio-headless')}`,
          `Service/${name('mlflow')}`,
          `StatefulSet/${name('minio')}`,
        ].sort(),
      );
    });

    it('when the gateway looks for BentoML, then BENTOML_DNS names the headless Service that selects the BentoML pods', () => {
      const gateway = find(objects, 'Deployment', name('gateway'));
      const bento = find(objects, 'Deployment', name('bento'));
      const headless = find(objects, 'Service', name('bento-headless'));
      expect(envValue(gateway, 'BENTOML_DNS')).toBe(
        `${name('bento-headless')}.${NAMESPACE}.svc.cluster.local:3000`,
      );
      expect(envOf(gateway).map((e) => e.name)).not.toContain('BENTOML_URL');
      expect(headless.spec.clusterIP).toBe('None');
      expect(headless.spec.ports).toEqual([{ name: 'http', port: 3000, targetPort: 'http' }]);
      expect(bento.spec.template.metadata.labels).toMatchObject(headless.spec.selector);
      expect(containerOf(bento).ports).toEqual([{ name: 'http', containerPort: 3000 }]);
      expect(envValue(bento, 'BENTOML_PORT')).toBe('3000');
      expect(envValue(bento, 'BIND_HOST')).toBe('0.0.0.0');
      // The gateway's Service selects the gateway's pods only.
      const service = find(objects, 'Service', name('gateway'));
      expect(gateway.spec.template.metadata.labels).toMatchObject(service.spec.selector);
      expect(bento.spec.template.metadata.labels).not.toMatchObject(service.spec.selector);
    });

    it('when components address each other, then the URLs name the chart Services and their ports', () => {
      const minio = `http://${name('minio')}:9000`;
      const mlflow = `http://${name('mlflow')}:5000`;
      for (const workload of workloadsOf(objects).filter((w) => w.kind === 'Deployment'))
        expect(envValue(workload, 'MINIO_ENDPOINT'), workload.metadata.name).toBe(minio);
      for (const component of ['bento', 'mlflow'])
        expect(envValue(find(objects, 'Deployment', name(component)), 'MLFLOW_TRACKING_URI')).toBe(mlflow);
      const minioService = find(objects, 'Service', name('minio'));
      expect(minioService.spec.ports.map((p: K8sObject) => p.port)).toEqual([9000, 9001]);
      expect(find(objects, 'Service', name('mlflow')).spec.ports[0].port).toBe(5000);
      const allowed =
        envValue(find(objects, 'Deployment', name('mlflow')), 'MLFLOW_SERVER_ALLOWED_HOSTS') ?? '';
      expect(allowed.split(',')).toEqual(
        expect.arrayContaining([name('mlflow'), `${name('mlflow')}:*`, 'localhost:*']),
      );
    });

    it('when credentials reach a container, then they come from Secrets, which the chart renders', () => {
      const workloads = workloadsOf(objects);
      expect(workloads.flatMap(inlinedCredentials)).toEqual([]);
      const secrets = objects.filter((o) => o.kind === 'Secret');
      const available = new Set(
        secrets.flatMap((s) => Object.keys(s.data).map((key) => `${s.metadata.name}/${key}`)),
      );
      const referenced = new Set(workloads.flatMap(secretRefsOf));
      expect([...referenced].filter((ref) => !available.has(ref))).toEqual([]);
      expect([...referenced].sort()).toEqual(
        [
          `${name('api-key')}/API_KEY`,
          `${name('s3')}/MINIO_ACCESS_KEY`,
          `${name('s3')}/MINIO_SECRET_KEY`,
        ].sort(),
      );
      // MinIO's root user is the clients' key.
      const minio = find(objects, 'StatefulSet', name('minio'));
      expect(secretRefsOf(minio)).toEqual([
        `${name('s3')}/MINIO_ACCESS_KEY`,
        `${name('s3')}/MINIO_SECRET_KEY`,
      ]);
      expect(
        envOf(find(objects, 'Deployment', name('gateway'))).find((e) => e.name === 'API_KEY'),
      ).toBeDefined();
    });

    it('when credentials are given as values, then they appear only base64-encoded in the Secret', () => {
      const secret = 'a-secret-key-nobody-guesses';
      const text = render('--set', 's3.accessKey=streamio-user', '--set', `s3.secretKey=${secret}`);
      expect(text).not.toContain(secret);
      const s3 = find(objectsOf(text), 'Secret', name('s3'));
      expect(Buffer.from(s3.data.MINIO_SECRET_KEY, 'base64').toString()).toBe(secret);
      expect(Buffer.from(s3.data.MINIO_ACCESS_KEY, 'base64').toString()).toBe('streamio-user');
    });

    it('when generated, then the credentials are random and long enough for MinIO', () => {
      const s3 = find(objects, 'Secret', name('s3'));
      const secretKey = Buffer.from(s3.data.MINIO_SECRET_KEY, 'base64').toString();
      expect(secretKey.length).toBeGreaterThanOrEqual(8);
      const again = find(objectsOf(render()), 'Secret', name('s3'));
      expect(Buffer.from(again.data.MINIO_SECRET_KEY, 'base64').toString()).not.toBe(secretKey);
    });

    it('when kubelet probes, then the gateway answers /healthz and /readyz, BentoML /livez and /readyz, on their ports', () => {
      const probes = (workload: K8sObject) => {
        const container = containerOf(workload);
        const port = container.ports[0].name;
        return {
          liveness: container.livenessProbe?.httpGet,
          readiness: container.readinessProbe?.httpGet,
          port,
        };
      };
      const gateway = probes(find(objects, 'Deployment', name('gateway')));
      expect(gateway.liveness).toEqual({ path: '/healthz', port: gateway.port });
      expect(gateway.readiness).toEqual({ path: '/readyz', port: gateway.port });
      const bento = probes(find(objects, 'Deployment', name('bento')));
      expect(bento.liveness).toEqual({ path: '/livez', port: bento.port });
      expect(bento.readiness).toEqual({ path: '/readyz', port: bento.port });
      expect(containerOf(find(objects, 'Deployment', name('bento'))).startupProbe.httpGet.path).toBe(
        '/livez',
      );
      const mlflow = probes(find(objects, 'Deployment', name('mlflow')));
      expect(mlflow.readiness).toEqual({ path: '/health', port: mlflow.port });
      const minio = probes(find(objects, 'StatefulSet', name('minio')));
      expect(minio.readiness).toEqual({ path: '/minio/health/ready', port: 's3' });
      expect(minio.liveness).toEqual({ path: '/minio/health/live', port: 's3' });
    });

    it('when the gateway is autoscaled, then the HPA (autoscaling/v2) scales its Deployment on CPU, which has no fixed replicas', () => {
      const hpa = find(objects, 'HorizontalPodAutoscaler', name('gateway'));
      expect(hpa.apiVersion).toBe('autoscaling/v2');
      expect(hpa.spec.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: name('gateway'),
      });
      expect(hpa.spec.metrics).toEqual([
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
        },
      ]);
      expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
      expect(find(objects, 'Deployment', name('gateway')).spec.replicas).toBeUndefined();
      // CPU utilization needs a CPU request.
      expect(containerOf(find(objects, 'Deployment', name('gateway'))).resources.requests.cpu).toBeDefined();
    });

    it('when a container runs, then it has resource requests and a memory limit, as an unprivileged user', () => {
      for (const workload of workloadsOf(objects)) {
        const { resources, securityContext } = containerOf(workload);
        expect(resources.requests, workload.metadata.name).toMatchObject({
          cpu: expect.anything(),
          memory: expect.anything(),
        });
        expect(resources.limits?.memory, workload.metadata.name).toBeDefined();
        expect(securityContext.allowPrivilegeEscalation, workload.metadata.name).toBe(false);
        expect(podSpecOf(workload).securityContext.runAsNonRoot, workload.metadata.name).toBe(true);
        expect(podSpecOf(workload).automountServiceAccountToken, workload.metadata.name).toBe(false);
      }
    });

    it('when state is kept, then each BentoML replica has its own emptyDir, MLflow and MinIO a PersistentVolumeClaim, at the data directory', () => {
      const mountOf = (workload: K8sObject) =>
        containerOf(workload).volumeMounts.find((m: K8sObject) => m.mountPath === '/data');
      const bento = find(objects, 'Deployment', name('bento'));
      expect(envValue(bento, 'MINI_STREAMIO_DATA_DIR')).toBe('/data');
      const bentoVolume = podSpecOf(bento).volumes.find((v: K8sObject) => v.name === mountOf(bento).name);
      expect(bentoVolume.emptyDir).toBeDefined();
      const mlflow = find(objects, 'Deployment', name('mlflow'));
      expect(envValue(mlflow, 'MINI_STREAMIO_DATA_DIR')).toBe('/data');
      const mlflowVolume = podSpecOf(mlflow).volumes.find((v: K8sObject) => v.name === mountOf(mlflow).name);
      expect(mlflowVolume.persistentVolumeClaim.claimName).toBe(name('mlflow'));
      expect(mlflow.spec.strategy.type).toBe('Recreate');
      const minio = find(objects, 'StatefulSet', name('minio'));
      expect(minio.spec.volumeClaimTemplates.map((t: K8sObject) => t.metadata.name)).toEqual([
        mountOf(minio).name,
      ]);
    });

    it('when compared with docker-compose.yml, then images, commands and MinIO settings match', () => {
      const compose = parse(readText('docker-compose.yml')) as K8sObject;
      const minio = containerOf(find(objects, 'StatefulSet', name('minio')));
      expect(minio.image).toBe(compose.services.minio.image);
      expect(minio.args).toEqual(compose.services.minio.command);
      for (const variable of ['MINIO_UPDATE', 'MINIO_CALLHOME_ENABLE'])
        expect(minio.env.find((e: EnvVar) => e.name === variable)?.value).toBe(
          compose.services.minio.environment[variable],
        );
      expect(containerOf(find(objects, 'Deployment', name('mlflow'))).command).toEqual(
        compose.services.mlflow.command,
      );
      expect(containerOf(find(objects, 'Deployment', name('bento'))).command).toEqual(
        compose.services.bento.command,
      );
      const images = new Set(
        ['bento', 'mlflow'].map((c) => containerOf(find(objects, 'Deployment', name(c))).image),
      );
      expect(images.size).toBe(1);
    });

    it('when a container sets a variable, then its component reads it (zod or pydantic schema)', () => {
      const python = pythonSchema();
      expect(unknownSettings(find(objects, 'Deployment', name('gateway')), gatewaySchema())).toEqual([]);
      for (const component of ['bento', 'mlflow'])
        expect(unknownSettings(find(objects, 'Deployment', name(component)), python)).toEqual([]);
    });
  });

  describe('rendered with the GPU + external S3 values (ci/gpu-external-s3-values.yaml)', () => {
    let manifests: string;
    let objects: K8sObject[];
    let values: K8sObject;

    beforeAll(() => {
      manifests = render('--values', gpuValues);
      objects = objectsOf(manifests);
      values = parse(fs.readFileSync(gpuValues, 'utf8')) as K8sObject;
    });

    it('when piped to kubeconform -strict, then every object is valid', () => {
      const report = validate(manifests);
      expect(report.status, report.output).toBe(0);
      expect(report.summary).toEqual({ valid: objects.length, invalid: 0, errors: 0, skipped: 0 });
    });

    it('when S3 and MLflow are external, then no MinIO, MLflow or Secret is rendered and every client uses the endpoint', () => {
      expect(kindsOf(objects)).toEqual(
        [
          `Deployment/${name('bento')}`,
          `Deployment/${name('gateway')}`,
          `HorizontalPodAutoscaler/${name('gateway')}`,
          `Job/${name('trainer')}`,
          `Service/${name('bento-headless')}`,
          `Service/${name('gateway')}`,
        ].sort(),
      );
      for (const workload of workloadsOf(objects)) {
        expect(envValue(workload, 'MINIO_ENDPOINT'), workload.metadata.name).toBe(values.s3.endpoint);
        expect(envValue(workload, 'MINIO_REGION'), workload.metadata.name).toBe('eu-west-1');
        expect(inlinedCredentials(workload)).toEqual([]);
        expect(secretRefsOf(workload)).toEqual(
          expect.arrayContaining(['streamio-s3/access-key', 'streamio-s3/secret-key']),
        );
        expect(podSpecOf(workload).imagePullSecrets).toEqual([{ name: 'registry-credentials' }]);
      }
      for (const workload of [
        find(objects, 'Deployment', name('bento')),
        find(objects, 'Job', name('trainer')),
      ])
        expect(envValue(workload, 'MLFLOW_TRACKING_URI')).toBe('https://mlflow.example.com');
      expect(secretRefsOf(find(objects, 'Deployment', name('gateway')))).toContain(
        'streamio-api-key/API_KEY',
      );
    });

    it('when GPUs are enabled, then BentoML and the trainer ask for nvidia.com/gpu on the GPU nodes', () => {
      for (const workload of [
        find(objects, 'Deployment', name('bento')),
        find(objects, 'Job', name('trainer')),
      ]) {
        const pod = podSpecOf(workload);
        expect(containerOf(workload).resources.limits, workload.metadata.name).toMatchObject({
          'nvidia.com/gpu': 1,
        });
        expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
        expect(pod.tolerations).toEqual(values.bento.tolerations);
        expect(pod.runtimeClassName).toBe('nvidia');
      }
      expect(find(objects, 'Deployment', name('bento')).spec.replicas).toBe(4);
      expect(envValue(find(objects, 'Deployment', name('bento')), 'INFERENCE_BACKEND')).toBe('tensorrt');
      // Nothing else lands on the GPU nodes or asks for a GPU.
      const gateway = find(objects, 'Deployment', name('gateway'));
      expect(podSpecOf(gateway).nodeSelector).toBeUndefined();
      expect(containerOf(gateway).resources.limits['nvidia.com/gpu']).toBeUndefined();
    });

    it('when the trainer Job is enabled, then it runs the training module with the given arguments', () => {
      const trainer = containerOf(find(objects, 'Job', name('trainer')));
      expect(trainer.command).toEqual(['python', '-m', 'mini_streamio.training']);
      expect(trainer.args).toEqual(values.trainer.args);
      expect(podSpecOf(find(objects, 'Job', name('trainer'))).restartPolicy).toBe('Never');
    });

    it('when extra settings are given, then they reach the gateway as strings', () => {
      expect(envValue(find(objects, 'Deployment', name('gateway')), 'MAX_QUEUE_DEPTH')).toBe('5000');
    });
  });
});
