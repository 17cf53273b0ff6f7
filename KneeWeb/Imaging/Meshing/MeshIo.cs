using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace KneeWeb.Imaging.Meshing;

/// <summary>
/// Mesh files: legacy VTK (binary POLYDATA with point-data scalars and normals, what ParaView, 3D Slicer,
/// pyvista and NiiVue open), binary STL and binary little-endian PLY (with per-vertex scalar properties).
/// Coordinates are RAS mm as in the mesh.
/// </summary>
public static class MeshIo
{
    public static void Write(TriangleMesh mesh, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string extension = Path.GetExtension(path).ToLowerInvariant();
        switch (extension)
        {
            case ".vtk": WriteVtk(mesh, path); break;
            case ".stl": WriteStl(mesh, path); break;
            case ".ply": WritePly(mesh, path); break;
            default: throw new ArgumentException($"Unknown mesh format '{extension}' (use .vtk, .stl or .ply).", nameof(path));
        }
    }

    public static void WriteVtk(TriangleMesh mesh, string path, string title = "KneeWeb mesh")
    {
        ArgumentNullException.ThrowIfNull(mesh);
        using var stream = new BufferedStream(File.Create(path), 1 << 16);
        int n = mesh.VertexCount, m = mesh.TriangleCount;
        WriteAscii(stream, $"# vtk DataFile Version 3.0\n{title.ReplaceLineEndings(" ")}\nBINARY\nDATASET POLYDATA\nPOINTS {n} float\n");
        Span<byte> buffer = stackalloc byte[16];
        foreach (double value in mesh.PositionsRas)
        {
            BinaryPrimitives.WriteSingleBigEndian(buffer, (float)value);
            stream.Write(buffer[..4]);
        }

        WriteAscii(stream, $"\nPOLYGONS {m} {4L * m}\n");
        int[] t = mesh.Triangles;
        for (int f = 0; f < t.Length; f += 3)
        {
            BinaryPrimitives.WriteInt32BigEndian(buffer, 3);
            BinaryPrimitives.WriteInt32BigEndian(buffer[4..], t[f]);
            BinaryPrimitives.WriteInt32BigEndian(buffer[8..], t[f + 1]);
            BinaryPrimitives.WriteInt32BigEndian(buffer[12..], t[f + 2]);
            stream.Write(buffer);
        }

        WriteAscii(stream, $"\nPOINT_DATA {n}\n");
        foreach ((string name, float[] values) in mesh.PointData)
        {
            WriteAscii(stream, $"SCALARS {name} float 1\nLOOKUP_TABLE default\n");
            foreach (float value in values)
            {
                BinaryPrimitives.WriteSingleBigEndian(buffer, value);
                stream.Write(buffer[..4]);
            }

            WriteAscii(stream, "\n");
        }

        WriteAscii(stream, "NORMALS Normals float\n");
        foreach (double value in mesh.ComputeVertexNormals())
        {
            BinaryPrimitives.WriteSingleBigEndian(buffer, (float)value);
            stream.Write(buffer[..4]);
        }

        WriteAscii(stream, "\n");
    }

    public static void WriteStl(TriangleMesh mesh, string path)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        using var stream = new BufferedStream(File.Create(path), 1 << 16);
        var header = new byte[80];
        Encoding.ASCII.GetBytes("KneeWeb binary STL, RAS mm").CopyTo(header, 0);
        stream.Write(header);
        Span<byte> record = stackalloc byte[50];
        BinaryPrimitives.WriteInt32LittleEndian(record, mesh.TriangleCount);
        stream.Write(record[..4]);
        double[] p = mesh.PositionsRas;
        int[] t = mesh.Triangles;
        for (int f = 0; f < t.Length; f += 3)
        {
            int a = 3 * t[f], b = 3 * t[f + 1], c = 3 * t[f + 2];
            Vec3d n = new Vec3d(p[b] - p[a], p[b + 1] - p[a + 1], p[b + 2] - p[a + 2])
                .Cross(new Vec3d(p[c] - p[a], p[c + 1] - p[a + 1], p[c + 2] - p[a + 2])).Normalized();
            record.Clear();
            BinaryPrimitives.WriteSingleLittleEndian(record, (float)n.X);
            BinaryPrimitives.WriteSingleLittleEndian(record[4..], (float)n.Y);
            BinaryPrimitives.WriteSingleLittleEndian(record[8..], (float)n.Z);
            int o = 12;
            foreach (int v in (ReadOnlySpan<int>)[a, b, c])
            {
                BinaryPrimitives.WriteSingleLittleEndian(record[o..], (float)p[v]);
                BinaryPrimitives.WriteSingleLittleEndian(record[(o + 4)..], (float)p[v + 1]);
                BinaryPrimitives.WriteSingleLittleEndian(record[(o + 8)..], (float)p[v + 2]);
                o += 12;
            }

            stream.Write(record);
        }
    }

    public static void WritePly(TriangleMesh mesh, string path)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        using var stream = new BufferedStream(File.Create(path), 1 << 16);
        var header = new StringBuilder();
        header.Append("ply\nformat binary_little_endian 1.0\ncomment KneeWeb mesh, RAS mm\n");
        header.Append(CultureInfo.InvariantCulture, $"element vertex {mesh.VertexCount}\nproperty float x\nproperty float y\nproperty float z\n");
        header.Append("property float nx\nproperty float ny\nproperty float nz\n");
        List<(string Name, float[] Values)> scalars = [.. mesh.PointData.Select(kv => (kv.Key, kv.Value))];
        foreach ((string name, _) in scalars)
        {
            header.Append(CultureInfo.InvariantCulture, $"property float {name}\n");
        }

        header.Append(CultureInfo.InvariantCulture, $"element face {mesh.TriangleCount}\nproperty list uchar int vertex_indices\nend_header\n");
        WriteAscii(stream, header.ToString());
        double[] normals = mesh.ComputeVertexNormals();
        double[] p = mesh.PositionsRas;
        Span<byte> buffer = stackalloc byte[13];
        for (int v = 0; v < mesh.VertexCount; v++)
        {
            for (int c = 0; c < 3; c++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer, (float)p[(3 * v) + c]);
                stream.Write(buffer[..4]);
            }

            for (int c = 0; c < 3; c++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer, (float)normals[(3 * v) + c]);
                stream.Write(buffer[..4]);
            }

            foreach ((_, float[] values) in scalars)
            {
                BinaryPrimitives.WriteSingleLittleEndian(buffer, values[v]);
                stream.Write(buffer[..4]);
            }
        }

        int[] t = mesh.Triangles;
        for (int f = 0; f < t.Length; f += 3)
        {
            buffer[0] = 3;
            BinaryPrimitives.WriteInt32LittleEndian(buffer[1..], t[f]);
            BinaryPrimitives.WriteInt32LittleEndian(buffer[5..], t[f + 1]);
            BinaryPrimitives.WriteInt32LittleEndian(buffer[9..], t[f + 2]);
            stream.Write(buffer);
        }
    }

    /// <summary>Reads a binary legacy VTK POLYDATA triangle mesh as written by <see cref="WriteVtk"/> (points, triangles, float scalars).</summary>
    public static TriangleMesh ReadVtk(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int position = 0;
        string Line()
        {
            int end = Array.IndexOf(bytes, (byte)'\n', position);
            if (end < 0)
            {
                end = bytes.Length;
            }

            string line = Encoding.ASCII.GetString(bytes, position, end - position).Trim();
            position = Math.Min(bytes.Length, end + 1);
            return line;
        }

        string NextNonEmpty()
        {
            string line;
            do
            {
                line = position < bytes.Length ? Line() : "";
            }
            while (line.Length == 0 && position < bytes.Length);
            return line;
        }

        if (!Line().StartsWith("# vtk DataFile", StringComparison.Ordinal))
        {
            throw new InvalidImageException("VTK", "header", "missing", "Not a legacy VTK file.");
        }

        Line();
        if (Line() != "BINARY")
        {
            throw new InvalidImageException("VTK", "encoding", "ASCII", "Only binary legacy VTK is read.");
        }

        double[] positions = [];
        int[] triangles = [];
        var scalars = new List<(string, float[])>();
        int pointCount = 0;
        while (position < bytes.Length)
        {
            string line = NextNonEmpty();
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0)
            {
                break;
            }

            switch (parts[0])
            {
                case "DATASET":
                case "POINT_DATA":
                case "LOOKUP_TABLE":
                    break;
                case "POINTS":
                    pointCount = int.Parse(parts[1], CultureInfo.InvariantCulture);
                    positions = new double[3 * pointCount];
                    for (int i = 0; i < positions.Length; i++, position += 4)
                    {
                        positions[i] = BinaryPrimitives.ReadSingleBigEndian(bytes.AsSpan(position));
                    }

                    break;
                case "POLYGONS":
                    int polygons = int.Parse(parts[1], CultureInfo.InvariantCulture);
                    triangles = new int[3 * polygons];
                    for (int f = 0; f < polygons; f++)
                    {
                        int size = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(position));
                        if (size != 3)
                        {
                            throw new InvalidImageException("VTK", "POLYGONS", size.ToString(CultureInfo.InvariantCulture), "Only triangles are read.");
                        }

                        for (int c = 0; c < 3; c++)
                        {
                            triangles[(3 * f) + c] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(position + 4 + (4 * c)));
                        }

                        position += 16;
                    }

                    break;
                case "SCALARS":
                    Line(); // LOOKUP_TABLE default
                    var values = new float[pointCount];
                    for (int i = 0; i < pointCount; i++, position += 4)
                    {
                        values[i] = BinaryPrimitives.ReadSingleBigEndian(bytes.AsSpan(position));
                    }

                    scalars.Add((parts[1], values));
                    break;
                case "NORMALS":
                    position += 12 * pointCount;
                    break;
                default:
                    throw new InvalidImageException("VTK", "section", parts[0], "Unexpected section in a KneeWeb VTK mesh.");
            }
        }

        var mesh = new TriangleMesh(positions, triangles);
        foreach ((string name, float[] values) in scalars)
        {
            mesh.PointData[name] = values;
        }

        return mesh;
    }

    private static void WriteAscii(Stream stream, string text) => stream.Write(Encoding.ASCII.GetBytes(text));
}
