// Peer server on Node's `ws` package (the WebSocket library of the original TypeScript server).
// Every message a client sends is sent to every other open client of `wss.clients`.
// Usage: node ws_server.js --host 127.0.0.1 --port P
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const host = arg('host', '127.0.0.1');
const port = Number(arg('port', '0'));
const wss = new WebSocketServer({ host, port, perMessageDeflate: false, backlog: 4096, maxPayload: 1 << 20 });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) {
        client.send(data, { binary: isBinary });
      }
    }
  });
});

wss.on('listening', () => console.log(`node ws broadcast server on ${host}:${port}`));

function stop() {
  for (const client of wss.clients) client.terminate();
  wss.close(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
