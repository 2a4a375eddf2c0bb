using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// One document of a YAML stream at a time, as a stream of its own: <c>StreamStart</c>, the shared parser's events from
/// one <c>DocumentStart</c> to its <c>DocumentEnd</c>, <c>StreamEnd</c>. A <see cref="YamlDotNet.RepresentationModel.YamlStream"/>
/// loading from it builds that document's node tree alone, which can then be read and dropped before the next one is
/// built. Loaded whole, a 1,000-Service file keeps every document's tree alive until the end, and the garbage collector
/// copies that tree from generation to generation, as long as the parse itself (BENCHMARKS.md, cold start). One
/// scanner reads the whole text, so positions in errors are the file's.
/// </summary>
internal sealed class OneDocumentParser(IParser shared) : IParser
{
    private enum Stage { Before, Started, InDocument, Ended }

    private Stage _stage = Stage.Before;

    public ParsingEvent? Current { get; private set; }

    /// <summary>Whether the shared parser has another document (consumes its <c>StreamStart</c> the first time).</summary>
    public static bool HasDocument(IParser shared)
    {
        shared.TryConsume<StreamStart>(out _);
        return shared.Current is not null and not StreamEnd;
    }

    public bool MoveNext()
    {
        switch (_stage)
        {
            case Stage.Before:
                Current = new StreamStart();
                _stage = Stage.Started;
                return true;
            case Stage.Started:
                Current = shared.Current;
                _stage = Stage.InDocument;
                return Current is not null;
            case Stage.InDocument when Current is DocumentEnd:
                Current = new StreamEnd();
                _stage = Stage.Ended;
                return true;
            case Stage.InDocument:
                shared.MoveNext();
                Current = shared.Current;
                if (Current is DocumentEnd)
                    shared.MoveNext(); // the shared parser then stands on the next document's start, or the stream's end
                return Current is not null;
            default:
                return false;
        }
    }
}
