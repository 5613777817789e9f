/** Mean milliseconds per call of `fn`: three warm-up calls, then as many as fit in `minMs`. */
export function time(fn, minMs = 300) {
  for (let i = 0; i < 3; i++) fn();
  let runs = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) {
    fn();
    runs++;
  }
  return (performance.now() - start) / runs;
}
