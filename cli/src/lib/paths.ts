// Where this clone lives: the CLI runs the clone's own Python trainer (.stack/python).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The clone's Python: the cached venv with this clone's bento/src on the path (scripts/setup.sh). */
export const stackPython = path.join(repoRoot, '.stack', 'python');
