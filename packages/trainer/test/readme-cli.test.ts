import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../src/cli';

const here = dirname(fileURLToPath(import.meta.url));
const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
const rootReadme = readFileSync(join(here, '..', '..', '..', 'README.md'), 'utf8');

/** A verb's long options, as its --help lists them (the CLI's own definition). */
function helpOptions(verb: string): string[] {
  const command = createProgram().commands.find((c) => c.name() === verb);
  if (!command) throw new Error(`no verb ${verb}`);
  return command.options.map((o) => o.long!).filter(Boolean);
}

/** The README's usage line for a verb: "- `predict <model> … [--json]`: …". */
function usageLine(verb: string): string {
  const line = new RegExp(`^- \`${verb} [^\`]*\``, 'm').exec(readme)?.[0];
  if (!line) throw new Error(`packages/trainer/README.md has no usage line for ${verb}`);
  return line;
}

const flags = (text: string): string[] => [...new Set(text.match(/--[a-z][a-z0-9-]*/g) ?? [])];

describe("the README's CLI usage agrees with --help", () => {
  // --backend and --help are shared by every verb; the README says so once ("Each verb starts the backend itself (`--backend`…").
  const shared = ['--backend', '--help'];

  for (const verb of ['predict', 'evaluate', 'export']) {
    it(`${verb}: every option of --help is in its usage line, and the line names no other`, () => {
      const fromHelp = helpOptions(verb).filter((o) => !shared.includes(o));
      expect(flags(usageLine(verb)).sort()).toEqual(fromHelp.sort());
    });
  }

  it('every flag the READMEs show with a verb (or as "CLI `--flag`") exists in that verb', () => {
    const options = new Map(['train', 'export', 'evaluate', 'predict'].map((v) => [v, new Set([...helpOptions(v), '--help'])]));
    const problems: string[] = [];
    let checked = 0;
    for (const [name, text] of [
      ['packages/trainer/README.md', readme],
      ['README.md', rootReadme],
    ] as const) {
      for (const m of text.matchAll(/bag-of-tricks (train|export|evaluate|predict)\b([^`#\n|]*)/g)) {
        for (const f of flags(m[2]!)) {
          checked++;
          if (!options.get(m[1]!)!.has(f)) problems.push(`${name}: ${m[1]} ${f}`);
        }
      }
      // "(`init`, CLI `--init <path>`)": config fields with a train flag.
      for (const m of text.matchAll(/CLI `(--[a-z][a-z0-9-]*)/g)) {
        checked++;
        if (!options.get('train')!.has(m[1]!)) problems.push(`${name}: train ${m[1]}`);
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(15); // the READMEs show about 20: the regexes still find them
  });
});
