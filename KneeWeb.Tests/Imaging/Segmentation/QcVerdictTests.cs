using KneeWeb.Imaging.Segmentation;
using Xunit;

namespace KneeWeb.Tests.Imaging.Segmentation;

[Trait("Category", "unit")]
public sealed class QcVerdictTests
{
    [Theory]
    [InlineData(new string[0], QcVerdict.Pass)]
    [InlineData(new[] { "info", "info" }, QcVerdict.Pass)]
    [InlineData(new[] { "info", "warning" }, QcVerdict.Review)]
    [InlineData(new[] { "warning", "error", "info" }, QcVerdict.Fail)]
    [InlineData(new[] { "error" }, QcVerdict.Fail)]
    [InlineData(new[] { "WARNING" }, QcVerdict.Review)]
    public void VerdictFollowsTheWorstSeverity(string[] severities, QcVerdict expected) =>
        Assert.Equal(expected, QcVerdicts.FromSeverityNames(severities));

    [Theory]
    [InlineData("critical")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("7")]
    public void AnUnknownSeverityIsLookedAtNeverPassed(string? severity) =>
        Assert.Equal(QcVerdict.Review, QcVerdicts.FromSeverityNames([severity]));

    [Fact]
    public void NamesAreTheWordsPagesAndCsvShow()
    {
        Assert.Equal("pass", QcVerdict.Pass.Name());
        Assert.Equal("review", QcVerdict.Review.Name());
        Assert.Equal("fail", QcVerdict.Fail.Name());
    }
}
