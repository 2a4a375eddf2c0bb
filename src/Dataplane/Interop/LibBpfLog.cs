using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace ProxyReplacement.Dataplane.Interop;

/// <summary>libbpf's print levels (enum libbpf_print_level).</summary>
public enum LibBpfLogLevel
{
    Warning = 0,
    Info = 1,
    Debug = 2,
}

/// <summary>
/// Collects what libbpf prints (relocation errors, the verifier log of a failed program load) so
/// that a failing call can carry it in <see cref="BpfException.LibbpfLog"/>. libbpf has one global
/// print callback; it runs on the thread that made the libbpf call, so captures are per thread:
/// <code>
/// using var log = LibBpfLog.Begin();
/// var rc = LibBpf.bpf_object__load(obj);
/// if (rc &lt; 0) throw new BpfException("load", -rc, log.Text);
/// </code>
/// Lines printed outside a capture go to <see cref="Printed"/> (warnings and info only).
/// </summary>
public static unsafe class LibBpfLog
{
    /// <summary>A capture keeps at most this many characters: the tail, where the verifier's error is.</summary>
    public const int MaxCapturedChars = 64 * 1024;

    private const int StackFormatBuffer = 1024;
    private static readonly Lock InstallGate = new();
    private static bool _installed;

    [ThreadStatic] private static Capture? _current;

    /// <summary>Raised for lines printed outside any capture (not for debug lines).</summary>
    public static event Action<LibBpfLogLevel, string>? Printed;

    /// <summary>Installs the callback (idempotent). Every entry point that calls libbpf calls this first.</summary>
    public static void EnsureInstalled()
    {
        if (Volatile.Read(ref _installed))
            return;
        lock (InstallGate)
        {
            if (_installed)
                return;
            LibBpf.libbpf_set_print(&OnPrint);
            Volatile.Write(ref _installed, true);
        }
    }

    /// <summary>Starts collecting libbpf's lines on this thread until the capture is disposed.</summary>
    public static Capture Begin()
    {
        EnsureInstalled();
        var capture = new Capture(_current);
        _current = capture;
        return capture;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int OnPrint(int level, byte* format, nint vaList)
    {
        try
        {
            var capture = _current;
            if ((LibBpfLogLevel)level == LibBpfLogLevel.Debug)
                return 0; // libbpf is chatty at debug level; nothing we surface needs it
            if (capture is null && Printed is null)
                return 0;
            var text = Format(format, vaList);
            if (capture is not null)
                capture.Append(text);
            else
                Printed?.Invoke((LibBpfLogLevel)level, text.TrimEnd('\n'));
        }
        catch
        {
            // Never let an exception unwind into libbpf's C frames.
        }
        return 0;
    }

    private static string Format(byte* format, nint vaList)
    {
        // vsnprintf consumes the va_list, so measuring then formatting needs a copy (va_copy).
        // va_copy is a plain copy of the va_list object: 24 bytes on x86-64, 32 on arm64.
        var vaListSize = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 24,
            Architecture.Arm64 => 32,
            _ => 0,
        };
        var small = stackalloc byte[StackFormatBuffer];
        if (vaListSize == 0)
        {
            var written = Libc.vsnprintf(small, StackFormatBuffer, format, vaList);
            return Encoding.UTF8.GetString(small, Math.Clamp(written, 0, StackFormatBuffer - 1));
        }

        var copy = stackalloc byte[32];
        Buffer.MemoryCopy((void*)vaList, copy, 32, vaListSize);
        var length = Libc.vsnprintf(small, StackFormatBuffer, format, (nint)copy);
        if (length < 0)
            return string.Empty;
        if (length < StackFormatBuffer)
            return Encoding.UTF8.GetString(small, length);

        // A long message (libbpf prints the whole verifier log as one "%s"): format it fully,
        // then keep only the tail, which is where the verifier says what went wrong.
        var large = (byte*)NativeMemory.Alloc((nuint)length + 1);
        try
        {
            Libc.vsnprintf(large, (nuint)length + 1, format, vaList);
            var keep = Math.Min(length, MaxCapturedChars);
            return Encoding.UTF8.GetString(large + (length - keep), keep);
        }
        finally
        {
            NativeMemory.Free(large);
        }
    }

    /// <summary>The lines libbpf printed on this thread since <see cref="Begin"/>.</summary>
    public sealed class Capture : IDisposable
    {
        private readonly Capture? _outer;
        private readonly StringBuilder _text = new();
        private long _dropped;
        private bool _disposed;

        internal Capture(Capture? outer) => _outer = outer;

        /// <summary>The captured text (tail-truncated), or null when libbpf printed nothing.</summary>
        public string? Text
        {
            get
            {
                if (_text.Length == 0)
                    return null;
                return _dropped == 0 ? _text.ToString() : $"[... {_dropped} earlier characters dropped]\n{_text}";
            }
        }

        internal void Append(string line)
        {
            _text.Append(line);
            if (_text.Length <= MaxCapturedChars)
                return;
            var excess = _text.Length - MaxCapturedChars;
            _text.Remove(0, excess);
            _dropped += excess;
        }

        public void Dispose()
        {
            if (_disposed)
                return;
            _disposed = true;
            // Captures nest; restore the enclosing one (they are disposed in LIFO order by `using`).
            if (ReferenceEquals(_current, this))
                _current = _outer;
        }
    }
}
