using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Interop;

/// <summary>
/// An owned <c>struct bpf_object *</c>. Releasing it runs <c>bpf_object__close</c>, which closes
/// the fds of the object's maps and programs (pins keep maps alive in the kernel) and then frees
/// the copy of the ELF image the object was opened from.
/// </summary>
internal sealed unsafe class BpfObjectHandle : SafeHandle
{
    private void* _image;

    private BpfObjectHandle() : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>
    /// Opens an ELF image with bpf_object__open_mem. The image is copied to native memory that
    /// lives as long as the object, so libbpf may refer to it for as long as it likes.
    /// </summary>
    public static BpfObjectHandle Open(ReadOnlySpan<byte> elf, string objectName)
    {
        LibBpfLog.EnsureInstalled();
        var image = NativeMemory.Alloc((nuint)elf.Length);
        elf.CopyTo(new Span<byte>(image, elf.Length));
        var nameBytes = System.Text.Encoding.UTF8.GetBytes(objectName + "\0");
        using var log = LibBpfLog.Begin();
        nint obj;
        fixed (byte* name = nameBytes)
        {
            var opts = new BpfObjectOpenOpts { Size = (nuint)sizeof(BpfObjectOpenOpts), ObjectName = name };
            obj = LibBpf.bpf_object__open_mem(image, (nuint)elf.Length, &opts);
        }
        if (obj == 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            NativeMemory.Free(image);
            throw new BpfException($"opening BPF object {objectName} ({elf.Length} bytes)", errno, log.Text);
        }
        var handle = new BpfObjectHandle { _image = image };
        handle.SetHandle(obj);
        return handle;
    }

    /// <summary>The raw pointer; valid while this handle is not disposed.</summary>
    public nint Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return handle;
        }
    }

    protected override bool ReleaseHandle()
    {
        LibBpf.bpf_object__close(handle);
        NativeMemory.Free(_image);
        _image = null;
        return true;
    }
}
