// Starts real services for a test process in another language (pytest):
//   node --import tsx scripts/stack/serve-test.ts minio mlflow
// prints one JSON line with the client environment once all are healthy, logs to stderr,
// and stops everything when its standard input closes or it receives SIGTERM/SIGINT.
import type { ServiceName } from './services.js';
import { serviceOrder } from './services.js';
import { consoleSink } from './supervisor.js';
import { startTestStack } from './test-stack.js';

const wanted = process.argv.slice(2) as ServiceName[];
const unknown = wanted.filter((name) => !serviceOrder.includes(name));
if (wanted.length === 0 || unknown.length > 0) {
  console.error(
    `usage: serve-test.ts <${serviceOrder.join('|')}>… (unknown: ${unknown.join(', ') || 'none'})`,
  );
  process.exit(2);
}

const stack = await startTestStack(wanted, { log: consoleSink(process.stderr, false) });
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await stack.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
process.stdin.on('close', () => void stop());
process.stdin.resume();
process.stdout.write(`${JSON.stringify(stack.env)}\n`);
