using ProxyReplacement.ServiceProxy.Parsing;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Tests.Parsing;

/// <summary>
/// <see cref="OneDocumentParser"/> against YamlDotNet's own whole-stream load: the same documents, in order, one at a
/// time from one parser, and a syntax error at the file's own position.
/// </summary>
public sealed class OneDocumentParserTests
{
    [TestCase("a: 1\n")]
    [TestCase("a: 1\n---\nb: [1, 2]\n---\n{c: d}\n")]
    [TestCase("---\n---\n---\na: 1\n", Description = "empty documents count")]
    [TestCase("a: &x {k: v}\nb: *x\n---\nc: &x [1]\nd: *x\n", Description = "anchors are per document")]
    [TestCase("a: 1\n...\n---\nb: 2\n...\n", Description = "explicit document ends")]
    [TestCase("%YAML 1.2\n---\na: 1\n", Description = "a directive")]
    [TestCase("a: |\n  text\n  ---x\n---\nb: 2\n")]
    [TestCase("", Description = "no document")]
    public void One_document_at_a_time_gives_the_documents_of_the_whole_stream(string text)
    {
        var whole = new YamlStream();
        whole.Load(new StringReader(text));

        var parser = new Parser(new StringReader(text));
        var oneByOne = new List<string>();
        while (OneDocumentParser.HasDocument(parser))
        {
            var stream = new YamlStream();
            stream.Load(new OneDocumentParser(parser));
            Assert.That(stream.Documents, Has.Count.EqualTo(1));
            oneByOne.Add(stream.Documents[0].RootNode.ToString());
        }

        Assert.That(oneByOne, Is.EqualTo(whole.Documents.Select(d => d.RootNode.ToString()).ToList()));
    }

    [Test]
    public void A_syntax_error_in_a_later_document_reports_the_files_line()
    {
        var text = "a: 1\n---\nb: 2\n---\nc: {d: [unclosed\n";
        var parser = new Parser(new StringReader(text));
        var read = 0;

        var error = Assert.Throws<SemanticErrorException>(() =>
        {
            while (OneDocumentParser.HasDocument(parser))
            {
                new YamlStream().Load(new OneDocumentParser(parser));
                read++;
            }
        });

        Assert.That(read, Is.EqualTo(2), "the two documents before the broken one were read");
        Assert.That(error!.Start.Line, Is.GreaterThanOrEqualTo(5), "a line of the third document (line 5 on), counted in the whole text");
    }
}
