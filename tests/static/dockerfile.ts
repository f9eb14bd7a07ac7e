// A small Dockerfile reader for static checks: instructions, build stages, COPY sources,
// ENV and ARG values. Enough for this project's Dockerfiles; hadolint does the linting.
import fs from 'node:fs';
import path from 'node:path';

export interface Instruction {
  keyword: string;
  args: string;
  /** 1-based line of the instruction's first line. */
  line: number;
}

/** Instructions with their continuation lines joined; comments and blank lines dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    // Docker removes comment lines, also those inside a continued instruction.
    if (line.startsWith('#') || (line === '' && !pending)) return;
    const continues = line.endsWith('\\');
    const part = continues ? line.slice(0, -1).trim() : line;
    if (pending) pending.parts.push(part);
    else pending = { parts: [part], line: index + 1 };
    if (continues) return;
    const joined = pending.parts.filter(Boolean).join(' ');
    const [keyword = '', ...rest] = joined.split(/\s+/);
    instructions.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), line: pending.line });
    pending = undefined;
  });
  return instructions;
}

export interface Stage {
  /** The FROM argument as written, e.g. `${BASE_IMAGE}` or `node:20-bookworm-slim`. */
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Splits the instructions into build stages; ARGs before the first FROM belong to none. */
export function stagesOf(instructions: Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const words = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
      const as = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({
        from: words[0] as string,
        name: as >= 0 ? words[as + 1] : undefined,
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** Words of an instruction: the JSON array form, or whitespace-separated with quotes kept together. */
export function wordsOf(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  // Shell-like words: unquoted runs and quoted parts glued together, quotes removed.
  return [...args.matchAll(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g)].map((m) =>
    m[0].replace(/"([^"]*)"|'([^']*)'/g, '$1$2'),
  );
}

/** Local sources of a COPY or ADD (relative to the build context); none when it copies from a stage or image. */
export function copySources(instruction: Instruction): string[] {
  const words = wordsOf(instruction.args);
  const flags = words.filter((word) => word.startsWith('--'));
  if (flags.some((flag) => flag.startsWith('--from='))) return [];
  const paths = words.filter((word) => !word.startsWith('--'));
  return paths.slice(0, -1);
}

/** KEY=value pairs of an ENV, ARG or LABEL instruction (the legacy `ENV KEY value` form too). */
export function assignmentsOf(args: string): Record<string, string> {
  const words = wordsOf(args);
  if (words.length === 2 && !words[0]?.includes('=')) return { [words[0] as string]: words[1] as string };
  return Object.fromEntries(
    words.map((word) => {
      const at = word.indexOf('=');
      return at < 0 ? [word, ''] : [word.slice(0, at), word.slice(at + 1)];
    }),
  );
}

/** Default values of the ARGs declared before the first FROM (the ones FROM may use). */
export function globalArgs(instructions: Instruction[]): Record<string, string> {
  const firstFrom = instructions.findIndex((instruction) => instruction.keyword === 'FROM');
  return Object.assign(
    {},
    ...instructions
      .slice(0, firstFrom < 0 ? undefined : firstFrom)
      .filter((instruction) => instruction.keyword === 'ARG')
      .map((instruction) => assignmentsOf(instruction.args)),
  );
}

/** The image a stage starts from, with global ARG defaults substituted. */
export function baseImageOf(stage: Stage, args: Record<string, string>): string {
  return stage.from.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_whole, name: string) => args[name] ?? '');
}

/** Environment variables a stage sets with ENV. */
export function envOf(stage: Stage): Record<string, string> {
  return Object.assign(
    {},
    ...stage.instructions
      .filter((instruction) => instruction.keyword === 'ENV')
      .map((instruction) => assignmentsOf(instruction.args)),
  );
}

/** Arguments of the last instruction of a kind in a stage, e.g. the effective USER or CMD. */
export function lastOf(stage: Stage, keyword: string): string | undefined {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword).at(-1)?.args;
}

/** Local COPY/ADD sources that are missing from the context or left out of it by .dockerignore. */
export function copyProblems(
  instructions: Instruction[],
  contextRoot: string,
  isIgnored: (relativePath: string) => boolean,
): string[] {
  const problems: string[] = [];
  for (const instruction of instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')) {
    for (const source of copySources(instruction)) {
      const where = `line ${instruction.line}: ${instruction.keyword} ${source}`;
      if (/[*?[]/.test(source)) problems.push(`${where}: wildcards are not checked, name the paths`);
      else if (!fs.existsSync(path.join(contextRoot, source))) problems.push(`${where}: no such path`);
      else if (isIgnored(source)) problems.push(`${where}: excluded by .dockerignore`);
    }
  }
  return problems;
}
