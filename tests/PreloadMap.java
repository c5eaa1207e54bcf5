// A HashMap of 200,000 strings for `vmemu run` on a 64 MiB heap: the JVM's peak RSS is about
// 112 MB.
import java.util.HashMap;

public class PreloadMap {
    public static void main(String[] arguments) {
        HashMap<Integer, String> values = new HashMap<>();
        for (int i = 0; i < 200000; i++)
            values.put(i, "v" + (i * 7));
        long total = 0;
        for (String value : values.values())
            total += value.length();
        System.out.println(total);
    }
}
