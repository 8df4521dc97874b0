/** The catalog generator lives with the benchmarks, which must not import from test/. */
export { buildCatalog } from '../../../bench/fixtures-gen.js';
