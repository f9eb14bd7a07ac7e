// Exports of registered versions: the CLI runs the clone's Python exporter
// (`python -m mini_streamio.exports_main`, Ultralytics' exporter behind it), which stores each
// export in MinIO and lists it on the version. It owns the formats and the checks; its exit
// status says who was at fault: 0 done, 1 the export failed, 2 bad input.
import { spawn } from 'node:child_process';
import type { CliConfig } from '../config.js';
import { repoRoot, stackPython } from '../paths.js';
import { trainerEnv } from '../training/trainer-process.js';

export interface ExportRequest {
  version: string;
  name?: string;
  formats: string[];
  half?: boolean;
  int8?: boolean;
  data?: string;
}

/** One stored export, as the exporter reports it. */
export interface ExportResult {
  name: string;
  version: string;
  format: string;
  uri: string;
  precision: string;
  imgsz: number | number[];
  files: string[];
  bytes: number;
}

export interface ExportOutcome {
  exitCode: number;
  results: ExportResult[];
  /** The exporter's `error: …` line when it failed. */
  error?: string;
}

export function exporterArgv(request: ExportRequest): string[] {
  const argv = ['-m', 'mini_streamio.exports_main', request.version, '--json'];
  if (request.name) argv.push('--name', request.name);
  for (const format of request.formats) argv.push('--format', format);
  if (request.half) argv.push('--half');
  if (request.int8) argv.push('--int8');
  if (request.data) argv.push('--data', request.data);
  return argv;
}

export function runExporter(config: CliConfig, request: ExportRequest): Promise<ExportOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(stackPython, exporterArgv(request), {
      cwd: repoRoot,
      env: trainerEnv(config),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-20_000); // Ultralytics' log; only its end matters
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const results = stdout
        .split('\n')
        .filter((line) => line.trim())
        .map((line) => JSON.parse(line) as ExportResult);
      const error = stderr
        .split('\n')
        .reverse()
        .find((line) => line.startsWith('error: '))
        ?.slice('error: '.length);
      resolve({ exitCode: code ?? 1, results, error });
    });
  });
}
