using KneeWeb.Imaging;
using Xunit;

namespace KneeWeb.Tests.Imaging;

[Trait("Category", "unit")]
public sealed class VolumeSignedConversionTests
{
    [Fact]
    public void Signed_voxels_convert_as_signed_values()
    {
        // The CLR lets short[] pass as ushort[]; ToFloat32 once read -10 as 65526 that way.
        var geometry = new VolumeGeometry(new Dims3(2, 1, 1), AffineRas.Identity);
        Assert.Equal([-10f, 7f], new Volume(geometry, VoxelType.Int16, new short[] { -10, 7 }).ToFloat32());
        Assert.Equal([-3f, 4f], new Volume(geometry, VoxelType.Int8, new sbyte[] { -3, 4 }).ToFloat32());
        Assert.Equal([-100000f, 1f], new Volume(geometry, VoxelType.Int32, new[] { -100000, 1 }).ToFloat32());
        Assert.Equal([-5f, 2f], new Volume(geometry, VoxelType.Int64, new long[] { -5, 2 }).ToFloat32());
    }

    [Fact]
    public void Span_refuses_the_unsigned_view_of_signed_voxels()
    {
        var geometry = new VolumeGeometry(new Dims3(2, 1, 1), AffineRas.Identity);
        var volume = new Volume(geometry, VoxelType.Int16, new short[] { -1, 2 });
        Assert.Equal(-1, volume.Span<short>()[0]);
        Assert.Throws<InvalidOperationException>(() => volume.Span<ushort>());
    }
}
