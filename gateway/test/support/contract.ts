// Checks a response against openapi.yaml: its status is declared for the operation, its
// content type is one the operation answers, its declared headers are there and its JSON
// body matches the schema. Every component test passes its responses through `checked`.
import fs from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Response, Test } from 'supertest';
import YAML from 'yaml';
import { openapiPath } from '../../src/http/app.js';

interface MediaType {
  schema?: unknown;
}
interface ResponseSpec {
  $ref?: string;
  content?: Record<string, MediaType>;
  headers?: Record<string, unknown>;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, { responses: Record<string, ResponseSpec> }>>;
  components: { responses: Record<string, ResponseSpec> };
}

const doc = YAML.parse(fs.readFileSync(openapiPath, 'utf8')) as OpenApiDoc;
// ajv-formats is CommonJS: its default export sits one level down under NodeNext.
const addFormats = addFormatsModule.default;
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('binary', true);
ajv.addSchema(doc as object, 'openapi');
const compiled = new Map<string, ValidateFunction>();

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

export function assertMatchesContract(res: Response): void {
  const method = res.request.method.toLowerCase();
  const urlPath = new URL(res.request.url).pathname;
  const where = `${method.toUpperCase()} ${urlPath} → ${res.status}`;
  const operation = doc.paths[urlPath]?.[method];
  if (!operation) throw new Error(`${where}: the contract has no such operation`);
  const status = String(res.status);
  let spec = operation.responses[status];
  if (!spec) throw new Error(`${where}: status ${status} is not in the contract`);
  let specPath = pointer('paths', urlPath, method, 'responses', status);
  if (spec.$ref) {
    const name = spec.$ref.split('/').pop() as string;
    spec = doc.components.responses[name] as ResponseSpec;
    specPath = pointer('components', 'responses', name);
  }
  for (const header of Object.keys(spec.headers ?? {}))
    if (res.headers[header.toLowerCase()] === undefined)
      throw new Error(`${where}: header ${header} missing`);
  const contentType = String(res.headers['content-type'] ?? '').split(';')[0] as string;
  const media = spec.content?.[contentType];
  if (!media) throw new Error(`${where}: content type ${contentType} is not in the contract`);
  if (contentType !== 'application/json') return;
  const ref = `openapi#/${specPath}/content/${pointer(contentType)}/schema`;
  let validate = compiled.get(ref);
  if (!validate) {
    validate = ajv.compile({ $ref: ref });
    compiled.set(ref, validate);
  }
  if (!validate(res.body))
    throw new Error(
      `${where}: body breaks the contract: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(res.body)}`,
    );
}

/** Sends the request and checks the answer against the contract. */
export async function checked(test: Test): Promise<Response> {
  const res = await test;
  assertMatchesContract(res);
  return res;
}
