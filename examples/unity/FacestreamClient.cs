// facestream's websocket protocol (docs/protocol.md, version 2) in C# for Unity.
//
// A port of the tested Godot client (examples/godot/facestream_client.gd); it has not been
// compiled or run (no Unity on facestream's machines). Connects to `facestream serve`,
// optionally streams a 16-bit PCM WAV or the microphone in 20 ms chunks, receives ARKit face
// frames on a background task, and on the main thread applies the newest frame whose audio
// timestamp has come due to a SkinnedMeshRenderer's blend shapes by name.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using UnityEngine;
using Debug = UnityEngine.Debug;

public class FacestreamClient : MonoBehaviour
{
    public string url = "ws://127.0.0.1:8765/ws";  // ws://HOST:PORT/ws?session=mic to watch serve --mic
    public SkinnedMeshRenderer target;              // a mesh with ARKit-named blend shapes
    public string audioPath = "";                   // a 16-bit PCM WAV to send; empty: no file
    public bool useMicrophone = false;              // send this machine's microphone instead
    public float bufferSeconds = 0.1f;              // jitter buffer on top of the server's latency_ms

    const int HeaderBytes = 48;
    const double ChunkSeconds = 0.02;  // audio sent per message, as a microphone callback would

    class Frame { public uint seq; public double timestamp; public float[] weights; }

    [Serializable]
    class Message  // the fields of the server's JSON messages this client reads
    {
        public string type, session, name, message;
        public int protocol, frames;
        public float latency_ms;
        public string[] arkit_names;
    }

    readonly ConcurrentQueue<Frame> _incoming = new ConcurrentQueue<Frame>();  // receive task -> Update
    readonly ConcurrentQueue<byte[]> _micChunks = new ConcurrentQueue<byte[]>();  // Update -> send task
    readonly List<Frame> _pending = new List<Frame>();  // main thread only, in arrival order
    readonly CancellationTokenSource _cts = new CancellationTokenSource();
    ClientWebSocket _ws;
    volatile string[] _arkitNames;  // from the hello
    volatile float _latencySeconds;
    long _clockStart = -1;          // Stopwatch ticks at audio time 0; set once by either task
    int[] _slots;                   // index in arkit_names -> blend shape index, or -1

    byte[] _wavPcm; int _wavRate, _wavChannels;
    AudioClip _mic; int _micReadPos; float[] _micBuffer;

    void Start()
    {
        if (target == null) { Debug.LogError("facestream: no target SkinnedMeshRenderer"); return; }
        int rate = 0, channels = 1;
        if (!string.IsNullOrEmpty(audioPath))
        {
            if (!ReadWav(audioPath)) { Debug.LogError("facestream: cannot use " + audioPath + ": a 16-bit PCM WAV is needed"); return; }
            rate = _wavRate; channels = _wavChannels;
        }
        else if (useMicrophone)
        {
            _mic = Microphone.Start(null, true, 1, 16000);  // the server resamples whatever rate we get
            rate = _mic.frequency; channels = _mic.channels;
            _micBuffer = new float[(int)(ChunkSeconds * rate) * channels];
            _micReadPos = -1;  // set in Update once the microphone runs
        }
        Task.Run(() => Run(rate, channels, _cts.Token));
    }

    void OnDestroy()
    {
        _cts.Cancel();
        if (_mic != null) Microphone.End(null);
        _ws?.Abort();
    }

    // ---- background: connect, send, receive -------------------------------------------
    async Task Run(int rate, int channels, CancellationToken ct)
    {
        try
        {
            _ws = new ClientWebSocket();
            await _ws.ConnectAsync(new Uri(url), ct);
            await SendText("{\"type\":\"subscribe\",\"formats\":[\"arkit\"]}", ct);
            if (rate > 0)
                await SendText("{\"type\":\"start\",\"sample_rate\":" + rate + ",\"format\":\"s16le\",\"channels\":" + channels + "}", ct);
            // One receive and one send may be in flight together on a ClientWebSocket.
            Task sending = rate > 0 ? SendAudio(rate, channels, ct) : Task.CompletedTask;
            await Receive(ct);
            await sending;
        }
        catch (OperationCanceledException) { }
        catch (Exception e) when (!ct.IsCancellationRequested) { Debug.LogError("facestream: " + url + ": " + e.Message); }
    }

    async Task Receive(CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        while (_ws.State == WebSocketState.Open && !ct.IsCancellationRequested)
        {
            var r = await _ws.ReceiveAsync(new ArraySegment<byte>(buffer), ct);
            if (r.MessageType == WebSocketMessageType.Close)
            {
                Debug.Log("facestream: closed " + r.CloseStatus + " " + r.CloseStatusDescription);
                return;
            }
            message.Write(buffer, 0, r.Count);
            if (!r.EndOfMessage) continue;
            byte[] data = message.ToArray();
            message.SetLength(0);
            if (r.MessageType == WebSocketMessageType.Text) OnMessage(Encoding.UTF8.GetString(data));
            else OnFrame(data);
        }
    }

    void OnMessage(string json)
    {
        var m = JsonUtility.FromJson<Message>(json);  // JsonUtility may be used off the main thread
        switch (m.type)
        {
            case "hello":
                _latencySeconds = m.latency_ms / 1000f;
                _arkitNames = m.arkit_names;  // Update maps them to the mesh's blend shapes
                Debug.Log($"facestream: hello protocol={m.protocol} session={m.session} latency_ms={m.latency_ms:F1}");
                break;
            case "ended": Debug.Log("facestream: ended frames=" + m.frames); break;
            case "error": Debug.LogWarning("facestream: server error " + m.name + ": " + m.message); break;
        }
    }

    // Header fields are little-endian, as on every platform Unity runs on (BitConverter's order).
    void OnFrame(byte[] p)
    {
        if (p.Length < HeaderBytes || p[0] != 'F' || p[1] != 'S' || p[2] != 'T' || p[3] != 'R') return;
        var f = new Frame
        {
            seq = BitConverter.ToUInt32(p, 8),
            timestamp = BitConverter.ToDouble(p, 16),
            weights = new float[BitConverter.ToUInt16(p, 40)],  // n_arkit
        };
        Buffer.BlockCopy(p, HeaderBytes, f.weights, 0, 4 * f.weights.Length);
        // Watching someone else's audio: start the clock at this frame.
        Interlocked.CompareExchange(ref _clockStart,
            Stopwatch.GetTimestamp() - SecondsToTicks(f.timestamp + _latencySeconds), -1);
        _incoming.Enqueue(f);
    }

    async Task SendAudio(int rate, int channels, CancellationToken ct)
    {
        if (_wavPcm != null)
        {
            int frameBytes = 2 * channels, chunk = (int)(ChunkSeconds * rate) * frameBytes;
            Interlocked.CompareExchange(ref _clockStart, Stopwatch.GetTimestamp(), -1);
            for (int sent = 0; sent < _wavPcm.Length; sent += chunk)
            {
                double due = (double)sent / frameBytes / rate;  // send each chunk when its audio time comes (real time)
                double wait = due - Now();
                if (wait > 0) await Task.Delay(TimeSpan.FromSeconds(wait), ct);
                int n = Math.Min(chunk, _wavPcm.Length - sent);
                await _ws.SendAsync(new ArraySegment<byte>(_wavPcm, sent, n), WebSocketMessageType.Binary, true, ct);
            }
            await SendText("{\"type\":\"end\"}", ct);
            return;
        }
        while (!ct.IsCancellationRequested && _ws.State == WebSocketState.Open)  // microphone
        {
            while (_micChunks.TryDequeue(out var c))
                await _ws.SendAsync(new ArraySegment<byte>(c), WebSocketMessageType.Binary, true, ct);
            await Task.Delay(5, ct);
        }
    }

    Task SendText(string json, CancellationToken ct) =>
        _ws.SendAsync(new ArraySegment<byte>(Encoding.UTF8.GetBytes(json)), WebSocketMessageType.Text, true, ct);

    // ---- main thread: microphone in, newest due frame out -------------------------------
    void Update()
    {
        if (target == null) return;
        if (_mic != null) PumpMicrophone();
        if (_slots == null && _arkitNames != null) MapShapes(_arkitNames);
        while (_incoming.TryDequeue(out var f)) _pending.Add(f);
        if (_slots == null || Interlocked.Read(ref _clockStart) < 0 || _pending.Count == 0) return;

        // The face at audio time t needs audio up to t + latency, so it is shown latency + buffer
        // after that audio was sent. Frames whose time has passed while a later one is due are
        // skipped, never shown late.
        double now = Now() - _latencySeconds - bufferSeconds;
        int due = 0;
        while (due < _pending.Count && _pending[due].timestamp <= now) due++;
        if (due == 0) return;
        float[] w = _pending[due - 1].weights;
        _pending.RemoveRange(0, due);
        for (int i = 0; i < _slots.Length && i < w.Length; i++)
            if (_slots[i] >= 0) target.SetBlendShapeWeight(_slots[i], 100f * w[i]);  // Unity: 0..100
    }

    // Names match case-insensitively, also after a "prefix." that FBX import often adds
    // ("blendShape1.jawOpen"). Missing ones are reported once.
    void MapShapes(string[] names)
    {
        Mesh mesh = target.sharedMesh;
        var byName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int s = 0; s < mesh.blendShapeCount; s++)
        {
            string n = mesh.GetBlendShapeName(s);
            byName[n] = s;
            string tail = n.Substring(n.LastIndexOf('.') + 1);
            if (!byName.ContainsKey(tail)) byName[tail] = s;
        }
        _slots = new int[names.Length];
        var missing = new List<string>();
        for (int i = 0; i < names.Length; i++)
        {
            _slots[i] = byName.TryGetValue(names[i], out var s) ? s : -1;
            if (_slots[i] < 0) missing.Add(names[i]);
        }
        Debug.Log($"facestream: {names.Length - missing.Count}/{names.Length} ARKit shapes found on {mesh.name}");
        if (missing.Count > 0) Debug.LogWarning("facestream: missing blend shapes: " + string.Join(", ", missing));
    }

    void PumpMicrophone()
    {
        int pos = Microphone.GetPosition(null), len = _mic.samples;
        if (_micReadPos < 0)
        {
            if (pos <= 0) return;  // not recording yet
            _micReadPos = pos;     // audio time 0 is now
            Interlocked.CompareExchange(ref _clockStart, Stopwatch.GetTimestamp(), -1);
        }
        int frames = _micBuffer.Length / _mic.channels;
        while ((pos - _micReadPos + len) % len >= frames)
        {
            _mic.GetData(_micBuffer, _micReadPos);  // wraps around the looping clip
            var bytes = new byte[2 * _micBuffer.Length];
            for (int i = 0; i < _micBuffer.Length; i++)
            {
                short v = (short)(Mathf.Clamp(_micBuffer[i], -1f, 1f) * 32767f);
                bytes[2 * i] = (byte)v; bytes[2 * i + 1] = (byte)(v >> 8);
            }
            _micChunks.Enqueue(bytes);
            _micReadPos = (_micReadPos + frames) % len;
        }
    }

    // ---- helpers -------------------------------------------------------------------------
    double Now() => (double)(Stopwatch.GetTimestamp() - Interlocked.Read(ref _clockStart)) / Stopwatch.Frequency;
    static long SecondsToTicks(double s) => (long)(s * Stopwatch.Frequency);

    // A 16-bit PCM WAV -> _wavPcm, _wavRate, _wavChannels.
    bool ReadWav(string path)
    {
        byte[] d;
        try { d = File.ReadAllBytes(path); } catch (IOException) { return false; }
        if (d.Length < 12 || Encoding.ASCII.GetString(d, 0, 4) != "RIFF") return false;
        for (int pos = 12; pos + 8 <= d.Length;)
        {
            string id = Encoding.ASCII.GetString(d, pos, 4);
            int size = (int)BitConverter.ToUInt32(d, pos + 4);
            if (id == "fmt ")
            {
                if (BitConverter.ToUInt16(d, pos + 8) != 1 || BitConverter.ToUInt16(d, pos + 22) != 16) return false;
                _wavChannels = BitConverter.ToUInt16(d, pos + 10);
                _wavRate = (int)BitConverter.ToUInt32(d, pos + 12);
            }
            else if (id == "data" && _wavRate > 0)
            {
                _wavPcm = new byte[Math.Min(size, d.Length - pos - 8)];
                Buffer.BlockCopy(d, pos + 8, _wavPcm, 0, _wavPcm.Length);
                return true;
            }
            pos += 8 + size + (size & 1);
        }
        return false;
    }
}
