import { readFileSync, statSync } from 'node:fs';
import { Argument, Command, Option } from './commander.js';

/**
 * `--help` without loading the commands (issue 16): the command modules import what their actions
 * need (knex, the drivers, express, forge...), ~1,300 files for the whole program, and help only
 * needs their names, options and descriptions. `npm run build` writes that tree
 * (write-help-tree.ts) beside the compiled CLI; `upcat ... --help` rebuilds plain commander
 * commands from it and lets commander format them, so the text is commander's own at any terminal
 * width. The tree is used only while every compiled CLI file is the one it was written from
 * (size and mtime; tsc rewrites them all on every build): otherwise the program is built as usual.
 */

interface OptionShape {
  flags: string;
  description: string;
  defaultValue?: unknown;
  defaultValueDescription?: string;
  argChoices?: string[];
  hidden?: boolean;
  presetArg?: unknown;
  envVar?: string;
  helpGroupHeading?: string;
}

interface ArgumentShape {
  flags: string;
  description: string;
  defaultValue?: unknown;
  defaultValueDescription?: string;
  argChoices?: string[];
}

export interface CommandShape {
  name: string;
  aliases: string[];
  description: string;
  summary: string;
  usage?: string;
  hidden?: boolean;
  /** Has an action of its own: commander then lists no implicit `help` subcommand. */
  action?: boolean;
  helpGroup?: string;
  options: OptionShape[];
  arguments: ArgumentShape[];
  commands: CommandShape[];
}

export interface HelpTreeFile {
  /** Size and mtime of every compiled CLI file the tree was written from, by path. */
  stamp: Record<string, [number, number]>;
  tree: CommandShape;
}

/** Commander's state that its help reads and its typings do not declare. */
interface CommandInternals {
  _usage?: string;
  _hidden?: boolean;
  _actionHandler?: unknown;
}

/** What commander's help shows of a command, as JSON. */
export function shapeOf(cmd: Command): CommandShape {
  const internals = cmd as unknown as CommandInternals;
  return {
    name: cmd.name(),
    aliases: cmd.aliases(),
    description: cmd.description(),
    summary: cmd.summary(),
    ...(internals._usage === undefined ? {} : { usage: internals._usage }),
    ...(internals._hidden === true ? { hidden: true } : {}),
    ...(internals._actionHandler == null ? {} : { action: true }),
    ...(cmd.helpGroup() === '' ? {} : { helpGroup: cmd.helpGroup() }),
    options: cmd.options.map((o) => ({
      flags: o.flags,
      description: o.description,
      ...defined({
        defaultValue: o.defaultValue as unknown,
        defaultValueDescription: o.defaultValueDescription,
        argChoices: o.argChoices,
        presetArg: o.presetArg as unknown,
        envVar: o.envVar,
        helpGroupHeading: o.helpGroupHeading,
      }),
      ...(o.hidden ? { hidden: true } : {}),
    })),
    arguments: cmd.registeredArguments.map((a) => ({
      flags: argumentFlags(a),
      description: a.description,
      ...defined({
        defaultValue: a.defaultValue as unknown,
        defaultValueDescription: a.defaultValueDescription,
        argChoices: a.argChoices,
      }),
    })),
    commands: cmd.commands.map(shapeOf),
  };
}

/** A plain commander command (no actions) that formats the same help as the one it was taken from. */
export function commandOf(shape: CommandShape): Command {
  const cmd = new Command(shape.name).description(shape.description).summary(shape.summary);
  if (shape.aliases.length > 0) cmd.aliases(shape.aliases);
  if (shape.usage !== undefined) cmd.usage(shape.usage);
  if (shape.helpGroup !== undefined) cmd.helpGroup(shape.helpGroup);
  if (shape.action === true) cmd.action(() => undefined);
  for (const o of shape.options) {
    const option = new Option(o.flags, o.description);
    option.defaultValue = o.defaultValue;
    option.defaultValueDescription = o.defaultValueDescription;
    option.argChoices = o.argChoices;
    option.presetArg = o.presetArg;
    option.envVar = o.envVar;
    option.helpGroupHeading = o.helpGroupHeading;
    option.hidden = o.hidden === true;
    cmd.addOption(option);
  }
  for (const a of shape.arguments) {
    const argument = new Argument(a.flags, a.description);
    argument.defaultValue = a.defaultValue;
    argument.defaultValueDescription = a.defaultValueDescription;
    argument.argChoices = a.argChoices;
    cmd.addArgument(argument);
  }
  for (const sub of shape.commands) cmd.addCommand(commandOf(sub), { hidden: sub.hidden === true });
  return cmd;
}

/** Root options that take a value: their value is not a command name. */
const VALUED_GLOBALS = new Set(['--home']);
const FLAG_GLOBALS = new Set(['--verbose']);

/**
 * The command path whose help `args` asks for, in the forms this fast path answers:
 * `[globals] [command...] --help|-h` and `[globals] help [command]`. Anything else (other
 * options beside --help, whose value might be "--help"; nested `help`) is left to commander.
 */
export function helpRequestOf(args: readonly string[]): string[] | undefined {
  let i = 0;
  while (i < args.length) {
    const a = args[i] ?? '';
    if (VALUED_GLOBALS.has(a)) i += 2;
    else if (FLAG_GLOBALS.has(a) || a.startsWith('--home=')) i++;
    else break;
  }
  const rest = args.slice(i);
  if (rest[0] === 'help') {
    const names = rest.slice(1);
    return names.length <= 1 && names.every((n) => !n.startsWith('-')) ? names : undefined;
  }
  const names = rest.slice(0, -1);
  const last = rest.at(-1);
  if ((last !== '--help' && last !== '-h') || names.some((n) => n.startsWith('-')))
    return undefined;
  return names;
}

/**
 * The help text `args` asks for, from the tree written at build time; undefined when this is not
 * a plain help request, the tree is absent or stale, or names a command it does not know.
 */
export function cachedHelp(args: readonly string[], treeUrl: URL): string | undefined {
  const names = helpRequestOf(args);
  if (names === undefined) return undefined;
  let file: HelpTreeFile;
  try {
    file = JSON.parse(readFileSync(treeUrl, 'utf8')) as HelpTreeFile;
    for (const [compiled, [size, mtimeMs]] of Object.entries(file.stamp)) {
      const st = statSync(new URL(compiled, treeUrl));
      if (st.size !== size || st.mtimeMs !== mtimeMs) return undefined;
    }
  } catch {
    return undefined; // no tree (running from source, or an older build): the usual way
  }
  let cmd = commandOf(file.tree);
  for (const name of names) {
    const sub = cmd.commands.find((c) => c.name() === name || c.aliases().includes(name));
    if (sub === undefined) return undefined; // commander reports the unknown name
    cmd = sub;
  }
  return cmd.helpInformation();
}

function argumentFlags(a: Argument): string {
  const name = `${a.name()}${a.variadic ? '...' : ''}`;
  return a.required ? `<${name}>` : `[${name}]`;
}

/** The entries whose value is not undefined (JSON would drop them anyway; this keeps types exact). */
function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
