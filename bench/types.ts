/** What every benchmark returns: its figures, the reference it was measured against, the ratio. */
export interface BenchResult {
  name: string;
  figures: Record<string, number | string>;
  /** What the reference is (e.g. "sha256sum of the same file"). */
  reference?: string;
  /** Ours divided by the reference (for times: lower is better), as the benchmark defines it. */
  ratio?: number;
  /** The target, in words, and whether it was met. */
  target?: string;
  met?: boolean;
}
