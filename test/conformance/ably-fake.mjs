// ably-fake.mjs MODE [CERT KEY]: a tiny WebSocket server on 127.0.0.1 (its
// port printed first) for the ably-listen cases ably-sim does not cover. With
// CERT and KEY (PEM files) it speaks TLS (wss://). MODE:
//   ok         CONNECTED, ATTACHED for every ATTACH, CLOSED for CLOSE
//   text       one frame that is not JSON
//   array      one JSON frame that is not an object
//   binary     one binary frame
//   noconnkey  CONNECTED without connectionDetails
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';

const [mode = 'ok', cert, key] = process.argv.slice(2);
let wss, server;
if (cert) {
	server = createServer({ cert: readFileSync(cert), key: readFileSync(key) });
	wss = new WebSocketServer({ server });
	server.listen(0, '127.0.0.1', () => console.log(server.address().port));
} else {
	wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
	wss.on('listening', () => console.log(wss.address().port));
}
wss.on('connection', (ws) => {
	switch (mode) {
	case 'text': ws.send('this is not json'); return;
	case 'array': ws.send('[4,"x"]'); return;
	case 'binary': ws.send(Buffer.from('{"action":4}'), { binary: true }); return;
	case 'noconnkey': ws.send('{"action":4,"connectionId":"abc"}'); return;
	}
	ws.send(JSON.stringify({ action: 4, connectionId: 'fake1',
	    connectionDetails: { connectionKey: 'k!fake1', maxIdleInterval: 15000,
	    connectionStateTtl: 120000 } }));
	ws.on('message', (data) => {
		const m = JSON.parse(data.toString());
		if (m.action === 10)
			ws.send(JSON.stringify({ action: 11, channel: m.channel,
			    channelSerial: 'fake:0', flags: 0xf0000 }));
		else if (m.action === 7) {
			ws.send('{"action":8}');
			ws.close();
		}
	});
});
process.on('SIGTERM', () => process.exit(0));
