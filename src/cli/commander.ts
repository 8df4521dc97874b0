/**
 * commander, as the CLI takes its values (classes) from it. `npm run build` bundles this module
 * with commander's seven files into one (dist/cli/commander.js, scripts/build-dist.mjs): every
 * `upcat` command loads commander before anything else, and resolving and reading its files one
 * by one was about 2.7 ms of a start that issue 16 holds to 3× `node -e 0` (docs/BENCHMARKS.md,
 * round ten). The code is commander's own, unchanged. Under tsx (the tests) this is a plain
 * re-export of the package.
 *
 * Types may come from 'commander' itself; values only from here (eslint says so), so that the
 * build has one copy of each class (`instanceof CommanderError` in main.ts).
 */
export { Argument, Command, CommanderError, Option } from 'commander';
