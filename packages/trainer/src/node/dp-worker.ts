// A data-parallel replica on a worker_thread: the shared replica code (../dp-replica) on Node's port.
import { parentPort, workerData } from 'node:worker_threads';
import type { ToWorker, WorkerInit } from '../dp-protocol';
import { replicaStartFailed, startReplica, type ReplicaSend } from '../dp-replica';

if (!parentPort) throw new Error('dp-worker.js is a worker_threads script; the data-parallel step starts it (createDataParallelStep).');
const port = parentPort;
const send: ReplicaSend = (msg, transfer = []) => port.postMessage(msg, transfer);

startReplica(workerData as WorkerInit, send).then(
  (handle) => port.on('message', (msg: ToWorker) => handle(msg)),
  (err: unknown) => replicaStartFailed(send, err),
);
