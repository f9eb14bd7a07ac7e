// Which paths a .dockerignore keeps out of the build context, with Docker's matching rules:
// patterns are relative to the context root, `*` and `?` stay within one path segment, `**`
// spans any number of them, a matched directory excludes everything below it, and a later
// `!pattern` re-includes what an earlier one excluded.

interface Rule {
  pattern: RegExp;
  include: boolean;
}

function toRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === '*' && pattern[i + 1] === '*') {
      // `**/` matches zero or more directories; a trailing `**` matches anything.
      source += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A pattern that names a directory also excludes its contents.
  return new RegExp(`^${source}(?:/.*)?$`);
}

export function parseDockerignore(text: string): Rule[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const include = line.startsWith('!');
      const pattern = (include ? line.slice(1) : line).replace(/^\/+/, '').replace(/\/+$/, '');
      return { pattern: toRegExp(pattern), include };
    });
}

/** True when the path (relative to the context root) is left out of the build context. */
export function isIgnored(relativePath: string, rules: Rule[]): boolean {
  const normalized = relativePath.replace(/^\.\//, '').replace(/\/+$/, '');
  let ignored = false;
  for (const rule of rules) {
    if (rule.pattern.test(normalized)) ignored = !rule.include;
  }
  return ignored;
}
