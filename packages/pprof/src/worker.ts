/**
 * A decode worker thread: runs decode jobs (`decode-job.ts`) one at a time and posts the
 * results back, transferring the decompressed profiles (never copying them).
 *
 * What a job holds against the shared budget is mirrored in this worker's slot of `slots`
 * at every change, so that if the thread dies mid-job the pool gives exactly that back.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { packResults, runDecodeJob, type JobItem, type JobResult } from './decode-job.js';

export interface WorkerInit {
  counter: BigInt64Array;
  limitBytes: number;
  slots: BigInt64Array;
  slot: number;
  /** Past this heap size (or after an input this large) the worker asks to be replaced. */
  recycleHeapBytes: number;
  recycleInputBytes: number;
}

export interface JobRequest {
  id: number;
  items: JobItem[];
  maxBytes: number;
  /** Tests only: make the thread die in the middle of this job. */
  crash?: boolean;
}

export interface JobResponse {
  id: number;
  results: JobResult[];
  charged: number;
  /** The worker grew past its bounds (a large input, a large heap) and should be replaced. */
  recycle: boolean;
}

const init = workerData as WorkerInit;
const port = parentPort!;

port.on('message', (request: JobRequest) => {
  const { results, charged, largestInput, largestOutput } = runDecodeJob(request.items, request.maxBytes, {
    counter: init.counter,
    limitBytes: init.limitBytes,
    onCharged: (held) => Atomics.store(init.slots, init.slot, BigInt(held)),
  });
  if (request.crash) process.exit(70);
  const transfer = packResults(results);
  // A thread that inflated a large payload holds its garbage (attempts at smaller estimates, zlib's
  // chunks) until its next GC, which an idle worker may never run: replace it, so the memory goes
  // back to the system as soon as the job is done.
  const heap = getHeapStatistics();
  const recycle = Math.max(largestInput, largestOutput) > init.recycleInputBytes || heap.total_heap_size + heap.external_memory > init.recycleHeapBytes;
  const response: JobResponse = { id: request.id, results, charged, recycle };
  port.postMessage(response, transfer);
});
