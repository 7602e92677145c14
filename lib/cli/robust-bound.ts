/**
 * The bound a robust aggregator states under Byzantine rows, which `zcoll bench robust` checks on
 * every honest rank's result when the fault plan has Byzantine ranks (issue 18 item 4: the exit code
 * follows the printed verdict, so the verdict needs a bound to hold the result to).
 *
 * The bound is (f, kappa)-robustness (Allouah, Farhadkhani, Guerraoui, Gupta, Pinot, Stephan,
 * "Fixing by Mixing", AISTATS 2023, Definition 2): for any set H of n - f honest rows,
 *   ||F(x_1..x_n) - mean_H||^2 <= kappa * (1/|H|) * sum_{i in H} ||x_i - mean_H||^2.
 * The kappa of each rule is the upper bound of that paper's Table 1 [recalled, not re-derived here],
 * valid for n > 2f, with f the Byzantine rows the rule is told to tolerate (trimmed-mean, krum) or
 * faces (median, gm, which take no f). Rules with no such bound (the mean under any Byzantine row,
 * multi-krum, centred clipping, bgmd with its memory) get none: the bench cannot certify their
 * result and says so, and the run fails; `-c 0` times them without a verdict.
 */

export interface RobustBound {
  /** kappa, or undefined when the rule states no bound for this (n, f). */
  kappa: number | undefined;
  /** The bound in words, for the table's header lines. */
  text: string;
}

/**
 * The bound of `aggregator` (CLI name) over `n` rows of which `byzantine` are Byzantine, the rule
 * tolerating `ruleF` (trimmed-mean, krum; undefined for rules without the parameter).
 */
export function robustBound(aggregator: string, n: number, byzantine: number, ruleF: number | undefined): RobustBound {
  const f = ruleF ?? byzantine;
  const none = (why: string): RobustBound => ({ kappa: undefined, text: `${aggregator}: no bound (${why}); every result counts as wrong` });
  if (ruleF !== undefined && ruleF < byzantine) return none(`the rule tolerates f = ${ruleF} < ${byzantine} Byzantine rows`);
  if (!(n > 2 * f)) return none(`needs n > 2f, got n = ${n}, f = ${f}`);
  const r = f / (n - 2 * f);
  let kappa: number | undefined;
  switch (aggregator) {
    case 'median':
    case 'gm':
      kappa = 4 * (1 + r) ** 2;
      break;
    case 'trimmed-mean':
      kappa = 6 * r * (1 + r);
      break;
    case 'krum':
      kappa = 6 * (1 + r);
      break;
    default:
      return none(aggregator === 'mean' ? 'one Byzantine row moves the mean anywhere' : 'none stated for it');
  }
  return { kappa, text: `||F - mean_H||^2 <= kappa * var_H, ${aggregator} kappa = ${kappa.toPrecision(4)} (n = ${n}, f = ${f})` };
}

/** Relative slack of the ratio for float32 rounding of F against the float64 mean and spread. */
const ROUNDING = 1e-4;

/**
 * How far `result` is from the honest rows' mean, as a fraction of the bound's radius
 * sqrt(kappa * var_H): <= 1 is within the bound. Infinity for a non-finite or wrong-length result
 * or when there is no bound (kappa undefined); 0 when the honest rows are identical and F is them.
 */
export function boundRatio(result: Float32Array, honestRows: readonly Float32Array[], kappa: number | undefined): number {
  const d = honestRows[0]?.length ?? 0;
  if (kappa === undefined || honestRows.length === 0 || result.length !== d) return Infinity;
  const meanH = new Float64Array(d);
  for (const row of honestRows) for (let i = 0; i < d; i++) meanH[i] += row[i];
  for (let i = 0; i < d; i++) meanH[i] /= honestRows.length;
  let spread = 0;
  for (const row of honestRows) for (let i = 0; i < d; i++) spread += (row[i] - meanH[i]) ** 2;
  spread /= honestRows.length;
  let dist = 0;
  for (let i = 0; i < d; i++) dist += (result[i] - meanH[i]) ** 2;
  if (!Number.isFinite(dist)) return Infinity;
  const radius2 = kappa * spread;
  if (radius2 === 0) return dist === 0 ? 0 : Infinity;
  return Math.sqrt(dist / radius2);
}

/** Within the bound, allowing float32 rounding of the result. */
export function withinBound(ratio: number): boolean {
  return ratio <= 1 + ROUNDING;
}
